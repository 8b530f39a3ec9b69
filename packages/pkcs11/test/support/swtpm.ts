/**
 * A software TPM for the tests: swtpm on loopback, tpm2-abrmd as its resource manager (without
 * one, tpm2-pkcs11 runs out of the TPM's three transient object slots) on a private D-Bus, and a
 * tpm2-pkcs11 store with one token, all under a temporary directory. Fails loudly (never skips)
 * when a package is missing; `.ci/run` installs them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where Debian's libtpm2-pkcs11-1 puts the module. */
export const TPM_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so'
const TOOLS = [
  '/usr/bin/swtpm',
  '/usr/sbin/tpm2-abrmd',
  '/usr/bin/tpm2_ptool',
  '/usr/bin/dbus-daemon',
]
const PACKAGES =
  'swtpm tpm2-tools tpm2-abrmd libtss2-tcti-tabrmd0 libtpm2-pkcs11-1 libtpm2-pkcs11-tools dbus-daemon'

export interface SoftwareTpm {
  close(): void
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  // Up to ~25 s: on a loaded CI machine tpm2-abrmd can take seconds to claim its bus name.
  for (let attempt = 0; attempt < 250; attempt++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`software TPM: ${what} did not come up`)
}

function canRun(command: string, args: string[], env: NodeJS.ProcessEnv): boolean {
  try {
    execFileSync(command, args, { env, stdio: 'pipe' })
    return true
  } catch {
    return false
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * Two consecutive free loopback ports (swtpm serves `port` and its control channel `port + 1`),
 * below Linux's ephemeral range (32768 and up): there no client connection of another test can
 * hold the second one, or leave it in TIME_WAIT, which swtpm's bind does not tolerate.
 */
async function findPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 5_000)
    if ((await canListen(port)) && (await canListen(port + 1))) return port
  }
  throw new Error('software TPM: found no two free consecutive ports')
}

/**
 * Starts swtpm and waits until it answers. A port can still be taken between the check and
 * swtpm's bind; swtpm then exits, and it is started again on other ports (three tries).
 */
async function startSwtpm(state: string): Promise<{ child: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await findPortPair()
    const child = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${state}`,
        '--server',
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags',
        'not-need-init,startup-clear',
      ],
      { stdio: 'ignore' },
    )
    let exited = false
    child.once('exit', () => void (exited = true))
    try {
      await waitFor(
        () =>
          exited ||
          canRun('tpm2_getrandom', ['-T', `swtpm:host=127.0.0.1,port=${port}`, '4'], process.env),
        'swtpm',
      )
    } catch (error) {
      child.kill()
      throw error
    }
    if (!exited) return { child, port }
    if (attempt === 3) throw new Error('software TPM: swtpm exited at start three times')
  }
}

/**
 * Starts the TPM stack and creates token `label` with user PIN `pin`. Sets the environment the
 * tpm2-pkcs11 module reads at C_Initialize (TCTI, store, D-Bus address) for this process.
 */
export async function startSoftwareTpm(label: string, pin: string): Promise<SoftwareTpm> {
  const missing = [TPM_MODULE, ...TOOLS].filter((path) => !existsSync(path))
  if (missing.length > 0) {
    throw new Error(
      `software TPM packages missing (${missing.join(', ')}); run: apt-get install -y ${PACKAGES}`,
    )
  }
  const dir = mkdtempSync(join(tmpdir(), 'keybound-swtpm-'))
  const store = join(dir, 'store')
  mkdirSync(join(dir, 'state'))
  mkdirSync(store)
  const children: ChildProcess[] = []
  const close = () => {
    for (const child of children.reverse()) child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const bus = `unix:path=${join(dir, 'bus')}`
    children.push(
      spawn('dbus-daemon', ['--session', '--nofork', `--address=${bus}`], { stdio: 'ignore' }),
    )
    await waitFor(() => existsSync(join(dir, 'bus')), 'dbus-daemon')
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: bus }
    const swtpm = await startSwtpm(join(dir, 'state'))
    children.push(swtpm.child)
    const port = swtpm.port
    const root = process.getuid?.() === 0 ? ['--allow-root'] : []
    children.push(
      spawn(
        'tpm2-abrmd',
        [...root, '--session', `--tcti=swtpm:host=127.0.0.1,port=${port}`, '--flush-all'],
        {
          env,
          stdio: 'ignore',
        },
      ),
    )
    const tcti = 'tabrmd:bus_type=session'
    const tpmEnv = {
      ...env,
      TPM2TOOLS_TCTI: tcti,
      TPM2_PKCS11_TCTI: tcti,
      TPM2_PKCS11_STORE: store,
    }
    await waitFor(() => canRun('tpm2_getrandom', ['4'], tpmEnv), 'tpm2-abrmd')
    execFileSync('tpm2_ptool', ['init', '--path', store], { env: tpmEnv, stdio: 'pipe' })
    // tpm2_ptool takes PINs only as arguments; this token lives for one test run.
    execFileSync(
      'tpm2_ptool',
      [
        'addtoken',
        '--pid=1',
        `--label=${label}`,
        `--userpin=${pin}`,
        `--sopin=so-${pin}`,
        '--path',
        store,
      ],
      { env: tpmEnv, stdio: 'pipe' },
    )
    Object.assign(process.env, {
      DBUS_SESSION_BUS_ADDRESS: bus,
      TPM2_PKCS11_TCTI: tcti,
      TPM2_PKCS11_STORE: store,
    })
    return { close }
  } catch (error) {
    close()
    throw error
  }
}
