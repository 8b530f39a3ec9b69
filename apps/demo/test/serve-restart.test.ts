/**
 * `keybound serve` over the same data folder twice: the printed `keybound curl` recipe works
 * (token, call, and the documented `POST /api/notes` body),
 * the second start prints the same credentials, publishes the same signing key, and a token
 * demo-service got from the first start is still accepted by the API after the restart.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, servePorts, startServe, type ServeProcess } from './support/stack.js'

const run = promisify(execFile)
let dataDir: string | undefined
let running: ServeProcess | undefined

afterAll(async () => {
  await running?.stop()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

async function jwks(issuer: string): Promise<unknown> {
  return (await fetch(`${issuer}/jwks`)).json()
}

describe('keybound serve, started twice on one data folder', () => {
  // Two starts and five CLI runs: the time budget is for a busy 2-core machine.
  it('reuses the signing keys, clients, users and credentials; the printed recipe works', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keybound-demo-restart-'))
    const ports = await servePorts()
    running = await startServe(dataDir, ports)
    const first = running
    expect((await stat(join(dataDir, 'demo-credentials.json'))).mode & 0o077).toBe(0)
    expect((await stat(join(dataDir, 'demo-service.jwk'))).mode & 0o077).toBe(0)
    // The two printed lines, run as printed; the token is kept for after the restart.
    const [getToken, callApi, postNote] = first.recipe
    const { stdout: firstCall } = await run(
      'bash',
      ['-ec', `${getToken}\nprintf '%s\\n' "$TOKEN"\n${callApi}`],
      { cwd: REPO_ROOT },
    )
    const [token, body] = firstCall.split('\n')
    expect(token).toMatch(/^ey/)
    expect(JSON.parse(body!)).toMatchObject({ client_id: 'demo-service', token_type: 'DPoP' })
    // The printed POST line, run as printed with that token: the body it documents is accepted.
    const { stdout: posted } = await run('bash', ['-ec', postNote], {
      cwd: REPO_ROOT,
      env: { ...process.env, TOKEN: token },
    })
    expect(JSON.parse(posted).notes).toEqual([
      { text: 'hello from a terminal', createdAt: expect.any(String) },
    ])
    const keysBefore = await jwks(first.urls.issuer)
    expect(await first.stop()).toBe(0)
    expect(first.output()).toContain('stopped; the data is kept for the next start')

    running = await startServe(dataDir, ports)
    const second = running
    expect(second.passwords).toEqual(first.passwords)
    expect(second.serviceSecret).toBe(first.serviceSecret)
    expect(await jwks(second.urls.issuer)).toEqual(keysBefore)
    // Same key file, same signing key: the first start's token still works (-f: exit 22 on 4xx).
    const keyFile = /-k (\S+)/.exec(callApi)![1]!
    const { stdout: again } = await run(
      'npx',
      ['keybound', 'curl', '-f', '-k', keyFile, '-t', token!, `${second.urls.api}/api/me`],
      { cwd: REPO_ROOT },
    )
    expect(JSON.parse(again)).toMatchObject({ subject: 'demo-service' })
  }, 120_000)
})
