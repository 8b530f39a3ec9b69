/**
 * `keybound serve --resource <url>` as a child process: the banner says which audience demo
 * tokens carry and lists the extra API; a token request naming that API gets a token for it
 * (`aud`), and a real resource server for that API accepts it. A demo-API token shown to that
 * API is refused with a terse `invalid_token`, while the server-side outcome names `aud` with
 * the expected and the actual value. A bad `--resource` stops the start with a clear error.
 */
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createResourceServer, jwtAccessTokens, type OutcomeEvent } from '@keybound/server'
import { protect } from '@keybound/server/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, servePorts, startServe, type ServeProcess } from './support/stack.js'
import { freePort } from '@keybound/test-kit/net'

const run = promisify(execFile)
const KEYBOUND = join(REPO_ROOT, 'packages', 'cli', 'dist', 'bin.js')
let dataDir: string
let stack: ServeProcess
let ownApi: string
const SECOND_API = 'https://notes.example.com'

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'keybound-demo-resource-'))
  ownApi = `http://127.0.0.1:${await freePort()}`
  stack = await startServe(dataDir, await servePorts(), [
    '--resource',
    ownApi,
    '--resource',
    SECOND_API,
  ])
}, 60_000)

afterAll(async () => {
  await stack?.stop()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

/** demo-service's token response (client_credentials with `keybound curl`, as the banner shows). */
async function requestToken(resource?: string): Promise<Record<string, unknown>> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: 'demo-service',
    client_secret: stack.serviceSecret,
    ...(resource === undefined ? {} : { resource }),
  })
  const { stdout } = await run(
    process.execPath,
    [
      KEYBOUND,
      'curl',
      '-k',
      join(dataDir, 'demo-service.jwk'),
      '-H',
      'Content-Type: application/x-www-form-urlencoded',
      '-d',
      form.toString(),
      `${stack.urls.issuer}/token`,
    ],
    { cwd: REPO_ROOT },
  )
  return JSON.parse(stdout) as Record<string, unknown>
}

async function serviceToken(resource?: string): Promise<string> {
  const response = await requestToken(resource)
  expect(response.access_token, JSON.stringify(response)).toEqual(expect.any(String))
  return response.access_token as string
}

function audienceOf(token: string): unknown {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).aud
}

/** Calls `url` with `keybound curl` and demo-service's key; resolves with the body and exit code. */
async function callWith(token: string, url: string): Promise<{ code: number; output: string }> {
  const key = join(dataDir, 'demo-service.jwk')
  try {
    const { stdout } = await run(
      process.execPath,
      [KEYBOUND, 'curl', '-i', '-k', key, '-t', token, url],
      {
        cwd: REPO_ROOT,
      },
    )
    return { code: 0, output: stdout }
  } catch (error) {
    const failed = error as { code: number; stdout: string }
    return { code: failed.code, output: failed.stdout }
  }
}

describe('keybound serve --resource', () => {
  it('prints the audience of demo tokens and every extra API in the banner', () => {
    const banner = stack.output()
    expect(banner).toContain(`Access tokens         aud ${stack.urls.api} (the demo API)`)
    expect(banner).toContain(`Other APIs (RFC 8707) ${ownApi}  (ask with resource=${ownApi})`)
    expect(banner).toContain(`${SECOND_API}  (ask with resource=${SECOND_API})`)
  })

  it('issues tokens for the named API, which its own resource server accepts', async () => {
    expect(audienceOf(await serviceToken())).toBe(stack.urls.api)
    expect(audienceOf(await serviceToken(stack.urls.api))).toBe(stack.urls.api)
    const forOwnApi = await serviceToken(ownApi)
    expect(audienceOf(forOwnApi)).toBe(ownApi)
    // An API the AS was not told about is still refused (RFC 8707 invalid_target).
    expect(await requestToken('http://localhost:1')).toMatchObject({ error: 'invalid_target' })

    const events: OutcomeEvent[] = []
    const resourceServer = createResourceServer({
      publicBaseUrl: ownApi,
      accessTokens: jwtAccessTokens({
        issuer: stack.urls.issuer,
        audience: ownApi,
        jwksUri: `${stack.urls.issuer}/jwks`,
      }),
      onOutcome: (event) => events.push(event),
    })
    const server = createServer(protect(resourceServer, (_request, response) => response.end('ok')))
    const { port } = new URL(ownApi)
    await new Promise<void>((resolve) => server.listen(Number(port), '127.0.0.1', resolve))
    try {
      const accepted = await callWith(forOwnApi, `${ownApi}/notes`)
      expect(accepted.output).toMatch(/^HTTP\S* 200/)
      expect(events.at(-1)).toMatchObject({ outcome: 'accepted', clientId: 'demo-service' })

      // The demo API's token at the user's own API: terse on the wire, explained server-side.
      const refused = await callWith(await serviceToken(), `${ownApi}/notes`)
      expect(refused.output).toMatch(/^HTTP\S* 401/)
      expect(refused.output).toMatch(/www-authenticate: DPoP error="invalid_token"/i)
      expect(refused.output).not.toContain(stack.urls.api)
      expect(events.at(-1)).toMatchObject({
        outcome: 'rejected',
        error: 'invalid_token',
        reason: 'ERR_DPOP_ACCESS_TOKEN_INVALID',
        detail: `aud expected "${ownApi}", got "${stack.urls.api}"`,
      })
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  }, 90_000)

  it('refuses a resource that is not https or loopback http, naming it', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'keybound-demo-resource-bad-'))
    try {
      const start = startServe(otherDir, await servePorts(), [
        '--resource',
        'http://api.example.com',
      ])
      await expect(start).rejects.toThrow(
        'resources[0]: must be an absolute https URL or loopback http (got "http://api.example.com")',
      )
    } finally {
      await rm(otherDir, { recursive: true, force: true })
    }
  })
})
