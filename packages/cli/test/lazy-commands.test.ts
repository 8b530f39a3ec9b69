/**
 * The proof commands start without the heavy packages: a child process run with a module hook
 * that records every ES module it loads shows that they never load the authorization server,
 * the gateway, the demo or their frameworks; and a copy of the CLI installed beside only
 * commander, core and client runs the proof commands while each heavy command (and a pkcs11: key,
 * which needs the optional `@keybound/pkcs11`) names the package to install.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runNode as run, type RunResult } from './support/run-node.js'

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(CLI_DIR, 'dist/bin.js')
const RECORDER = fileURLToPath(new URL('./fixtures/record-imports.mjs', import.meta.url))
const API = 'https://api.example.com/items'

// What only `gateway`, `serve` and `as` need, by path: workspace packages resolve to their
// folders, registry packages to node_modules.
const HEAVY =
  /\/(packages\/(gateway|authorization-server|server)|apps\/demo)\/|\/node_modules\/(fastify|@fastify|pino|better-sqlite3[^/]*|pg|kysely|esbuild|jose|redis|@redis|prom-client|yaml|undici)\//

// The PKCS#11 signer, an optional peer loaded only for pkcs11: keys.
const PKCS11 = /\/packages\/pkcs11\/|\/node_modules\/pkcs11js\//
const PKCS11_KEY = 'pkcs11:token=dpop;object=agent'

let workDir: string
let keyFile: string
let proof: string

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-lazy-'))
  keyFile = join(workDir, 'key.json')
  expect((await run([BIN, 'keygen', '--out', keyFile])).code).toBe(0)
  proof = (await run([BIN, 'proof', '-k', keyFile, '-m', 'GET', '-u', API])).stdout.trim()
})

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true })
})

async function loadedModules(
  name: string,
  args: string[],
): Promise<{ loaded: string[]; result: RunResult }> {
  const record = join(workDir, `${name}.loaded`)
  await writeFile(record, '')
  const result = await run(['--import', RECORDER, BIN, ...args], { RECORD_IMPORTS_TO: record })
  return { loaded: (await readFile(record, 'utf8')).split('\n').filter(Boolean), result }
}

describe('the proof commands load no heavy package', () => {
  const commands: { name: string; args: () => string[] }[] = [
    { name: 'keygen', args: () => ['keygen', '--alg', 'ES256'] },
    { name: 'thumbprint', args: () => ['thumbprint', keyFile] },
    { name: 'proof', args: () => ['proof', '-k', keyFile, '-m', 'GET', '-u', API] },
    { name: 'verify', args: () => ['verify', proof, '-m', 'GET', '-u', API] },
    { name: 'explain', args: () => ['explain', proof, '-m', 'GET', '-u', API] },
    { name: 'curl', args: () => ['curl', '--help'] },
  ]

  it.each(commands)('$name', async ({ name, args }) => {
    const { loaded, result } = await loadedModules(name, args())
    expect(result.code, result.stderr).toBe(0)
    // The recorder works: core and the CLI itself are seen.
    expect(loaded.some((url) => url.includes('/packages/core/dist/'))).toBe(true)
    expect(loaded.some((url) => url.includes('/packages/cli/dist/bin.js'))).toBe(true)
    expect(loaded.filter((url) => HEAVY.test(url))).toEqual([])
    // The client is curl's alone, and curl loads it only when it sends a request.
    expect(loaded.filter((url) => url.includes('/packages/client/'))).toEqual([])
    // The PKCS#11 signer (and its native addon) only for a pkcs11: key, never for a key file.
    expect(loaded.filter((url) => PKCS11.test(url))).toEqual([])
  })

  it('the recorder sees a heavy command load its package', async () => {
    const { loaded } = await loadedModules('gateway', [
      'gateway',
      '--config',
      join(workDir, 'none.yaml'),
    ])
    expect(loaded.some((url) => url.includes('/packages/gateway/dist/'))).toBe(true)
  })

  it('the recorder sees a pkcs11: key load the PKCS#11 signer', async () => {
    const { loaded, result } = await loadedModules('pkcs11', ['thumbprint', PKCS11_KEY])
    // No module-path: the signer refuses the URI, after it was loaded.
    expect(result.stderr).toContain('ERR_DPOP_PKCS11_URI_INVALID')
    expect(loaded.some((url) => url.includes('/packages/pkcs11/dist/'))).toBe(true)
  })
})

describe('an install with only the proof commands', () => {
  let lightBin: string

  beforeAll(async () => {
    // node_modules/keybound is a copy (so its imports resolve from this folder), beside links to
    // the only packages the proof commands need.
    const modules = join(workDir, 'light', 'node_modules')
    const cli = join(modules, 'keybound')
    await mkdir(cli, { recursive: true })
    for (const part of ['package.json', 'bin', 'dist'])
      await cp(join(CLI_DIR, part), join(cli, part), { recursive: true })
    const links: Record<string, string> = {
      // commander's main file is index.js at the package root.
      commander: dirname(createRequire(import.meta.url).resolve('commander')),
      '@keybound/core': join(CLI_DIR, '../core'),
      '@keybound/client': join(CLI_DIR, '../client'),
    }
    for (const [name, target] of Object.entries(links)) {
      await mkdir(dirname(join(modules, name)), { recursive: true })
      await symlink(target, join(modules, name), 'dir')
    }
    lightBin = join(cli, 'bin', 'keybound.js')
  })

  it('runs keygen, proof and explain', async () => {
    const key = join(workDir, 'light-key.json')
    expect((await run([lightBin, 'keygen', '--out', key])).code).toBe(0)
    const made = await run([lightBin, 'proof', '-k', key, '-m', 'GET', '-u', API])
    expect(made.code).toBe(0)
    expect(
      (await run([lightBin, 'explain', made.stdout.trim(), '-m', 'GET', '-u', API])).code,
    ).toBe(0)
  })

  it.each([
    {
      command: ['proof', '-k', PKCS11_KEY, '-m', 'GET', '-u', API],
      name: 'proof',
      needs: '@keybound/pkcs11',
    },
    { command: ['keygen', '--pkcs11', PKCS11_KEY], name: 'keygen', needs: '@keybound/pkcs11' },
    {
      command: ['gateway', '--config', 'gateway.yaml'],
      name: 'gateway',
      needs: '@keybound/gateway',
    },
    { command: ['authz', '--config', 'gateway.yaml'], name: 'authz', needs: '@keybound/gateway' },
    { command: ['serve'], name: 'serve', needs: '@keybound/demo' },
    {
      command: ['as', '--config', 'my-as.yaml'],
      name: 'as',
      needs: '@keybound/authorization-server',
    },
  ])('keybound $name names the package to install', async ({ command, name, needs }) => {
    const result = await run([lightBin, ...command])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(
      `keybound: keybound ${name} needs ${needs}, which is not installed: npm i ${needs}\n`,
    )
  })
})
