/**
 * `keybound gateway --config <file>` as an operator runs it: a child process that serves
 * requests, and exits 0 after a graceful stop on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { send } from './support/http.js'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import { ISSUER, baseConfig, clientKey, dpopHeaders } from './support/fixture.js'
import { startUpstream, type TestUpstream } from './support/upstream.js'

const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url))

let issuer: TestIssuer
let upstream: TestUpstream
let dir: string

beforeAll(async () => {
  issuer = await startTestIssuer(ISSUER)
  upstream = await startUpstream()
  dir = await mkdtemp(join(tmpdir(), 'keybound-gateway-cli-'))
})

afterAll(async () => {
  await upstream.close()
  await issuer.close()
  await rm(dir, { recursive: true, force: true })
})

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  )
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** The URL from the "gateway listening" log line, within a bounded wait. */
async function listeningUrl(gateway: Run): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const line = gateway
      .stdout()
      .split('\n')
      .find((entry) => entry.includes('"gateway listening"'))
    if (line !== undefined) return (JSON.parse(line) as { url: string }).url
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`the gateway did not start:\n${gateway.stdout()}\n${gateway.stderr()}`)
}

describe('keybound gateway', () => {
  it('serves requests from a YAML config and exits 0 on SIGTERM', async () => {
    const file = join(dir, 'gateway.yaml')
    await writeFile(file, stringify(baseConfig(issuer, upstream)))
    const gateway = run(['gateway', '--config', file])
    try {
      const url = await listeningUrl(gateway)
      const key = await clientKey()
      const token = await issuer.mint({ sub: 'carol', scope: 'items:read', jkt: key.jkt })
      const response = await send(`${url}/items/5`, {
        headers: await dpopHeaders(key, token, 'GET', '/items/5'),
      })
      expect(response.status).toBe(200)
      expect(upstream.received.at(-1)!.headers['x-keybound-subject']).toBe('carol')
      expect((await send(`${url}/items/5`)).status).toBe(401)
    } finally {
      gateway.child.kill('SIGTERM')
    }
    expect(await gateway.exited).toEqual({ code: 0, signal: null })
    expect(gateway.stdout()).toContain('"gateway closed"')
  })

  it('refuses an invalid config, naming the bad field, with exit code 2', async () => {
    const file = join(dir, 'bad.json')
    await writeFile(
      file,
      JSON.stringify({ ...baseConfig(issuer, upstream), upstream: { url: 'nope' } }),
    )
    const gateway = run(['gateway', '--config', file])
    expect((await gateway.exited).code).toBe(2)
    expect(gateway.stderr()).toContain('upstream.url: must be an absolute http or https URL')
  })

  it('--check validates without starting', async () => {
    const file = join(dir, 'check.yaml')
    const config = baseConfig(issuer, upstream)
    await writeFile(file, stringify(config))
    const gateway = run(['gateway', '--config', file, '--check', '--json'])
    expect((await gateway.exited).code).toBe(0)
    expect(JSON.parse(gateway.stdout())).toEqual({ ok: true, routes: config.routes.length })
  })
})
