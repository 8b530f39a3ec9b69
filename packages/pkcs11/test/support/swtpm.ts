/**
 * A software TPM for the tests: swtpm on loopback, tpm2-abrmd as its resource manager (without
 * one, tpm2-pkcs11 runs out of the TPM's three transient object slots) on a private D-Bus, and a
 * tpm2-pkcs11 store with one token, all under a temporary directory. Fails loudly (never skips)
 * when a package is missing; `.ci/run` installs them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '@keybound/test-kit/net'

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
    const port = await freePort()
    const control = port + 1 // The swtpm TCTI always talks to the control channel on port + 1.
    children.push(
      spawn(
        'swtpm',
        [
          'socket',
          '--tpm2',
          '--tpmstate',
          `dir=${join(dir, 'state')}`,
          '--server',
          `type=tcp,port=${port},bindaddr=127.0.0.1`,
          '--ctrl',
          `type=tcp,port=${control},bindaddr=127.0.0.1`,
          '--flags',
          'not-need-init,startup-clear',
        ],
        { stdio: 'ignore' },
      ),
    )
    const bus = `unix:path=${join(dir, 'bus')}`
    children.push(
      spawn('dbus-daemon', ['--session', '--nofork', `--address=${bus}`], { stdio: 'ignore' }),
    )
    await waitFor(() => existsSync(join(dir, 'bus')), 'dbus-daemon')
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: bus }
    await waitFor(
      () => canRun('tpm2_getrandom', ['-T', `swtpm:host=127.0.0.1,port=${port}`, '4'], env),
      'swtpm',
    )
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
