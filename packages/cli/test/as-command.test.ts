/**
 * `keybound as --config <file>`: the authorization server from a config file, as a child
 * process: a bad file is refused naming the field, a good one serves its metadata and stops
 * cleanly on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SERVE_USAGE } from '@keybound/authorization-server'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
const AS_README = fileURLToPath(new URL('../../authorization-server/README.md', import.meta.url))
const run = promisify(execFile)
let workDir: string

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-as-command-'))
})

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true })
})

async function writeConfig(name: string, text: string): Promise<string> {
  const path = join(workDir, name)
  await writeFile(path, text)
  return path
}

describe('keybound as', () => {
  it('refuses an invalid config, naming the field', async () => {
    const path = await writeConfig('bad.yaml', 'accessTokens: { lifetime: -1 }\n')
    const failure = await run(process.execPath, [BIN, 'as', '--config', path]).catch(
      (error: { code: number; stderr: string }) => error,
    )
    expect(failure).toMatchObject({ code: 2 })
    expect((failure as { stderr: string }).stderr).toContain(
      'accessTokens.lifetime: must be a whole number of seconds',
    )
  })

  it('checks a good config with --check', async () => {
    const path = await writeConfig(
      'check.yaml',
      `storage: { dataDir: ${JSON.stringify(join(workDir, 'check-data'))} }\nclients: []\n`,
    )
    const { stdout } = await run(process.execPath, [BIN, 'as', '--config', path, '--check'])
    expect(stdout).toBe(`${path}: OK (0 clients, 0 users)\n`)
  })

  it('serves the metadata and stops cleanly on SIGTERM', async () => {
    const path = await writeConfig(
      'as.yaml',
      `storage: { dataDir: ${JSON.stringify(join(workDir, 'data'))} }\n` +
        'clients:\n  - { client_id: svc, client_secret: svc-secret-0123456789, grant_types: [client_credentials] }\n',
    )
    const child = spawn(process.execPath, [BIN, 'as', '--config', path, '--port', '0'], {
      env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '', REDIS_URL: '' },
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const ready = await new Promise<{ issuer: string }>((resolve, reject) => {
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        const line = output.split('\n').find((text) => text.startsWith('{"ready":true'))
        if (line !== undefined) resolve(JSON.parse(line) as { issuer: string })
      })
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
      void exited.then((code) => reject(new Error(`exited with ${code}: ${output}`)))
    })
    const metadata = (await (
      await fetch(`${ready.issuer}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>
    expect(metadata.issuer).toBe(ready.issuer)
    expect(metadata.dpop_signing_alg_values_supported).toContain('ES256')
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})

describe('keybound as is an alias of keybound-as serve', () => {
  it('prints the same help', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'as', '--help'])
    expect(stdout).toBe(SERVE_USAGE)
    expect(stdout).toMatch(/^Usage: keybound-as serve --config <file>/)
  })

  it("checks the authorization server README's sample config", async () => {
    const readme = await readFile(AS_README, 'utf8')
    const section = readme.slice(readme.indexOf('\n## Configuration\n'))
    const sample = /\n```yaml\n([\s\S]*?)\n```\n/.exec(section)?.[1]
    expect(sample).toBeDefined()
    const names = [...new Set([...sample!.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]!))]
    const path = await writeConfig('readme-sample.yaml', `${sample}\n`)
    const env = {
      ...process.env,
      ...Object.fromEntries(names.map((name) => [name, `${name}-value-0123456789abcdefghij`])),
    }
    const { stdout } = await run(process.execPath, [BIN, 'as', '--config', path, '--check'], {
      env,
    })
    expect(stdout).toMatch(/readme-sample\.yaml: OK \(3 clients, 1 users\)\n$/)
  })
})
