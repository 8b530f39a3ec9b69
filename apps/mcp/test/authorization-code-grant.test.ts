/**
 * The MCP client's authorization-code grant (RFC 9449 §10, PKCE, RFC 7591 self-registration)
 * against the real Keybound authorization server over loopback HTTP, on every Node: the
 * conformance suite exercises the same path only on Node 22 and later (there with
 * self-registration). `authorize` signs alice
 * in on the AS's own login form, as a user's browser would, and hands back the redirect.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createAuthorizationServer,
  hashPassword,
  type AuthorizationServer,
} from '@keybound/authorization-server'
import { generateKeyPair } from '@keybound/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  authorizationCodeGrant,
  connectMcpClient,
  createMcpApp,
  listenMcpApp,
} from '../src/index.js'

const PASSWORD = 'correct horse battery staple'
const INITIAL_ACCESS_TOKEN = 'initial-access-token-0123456789'
// Never listened on: the AS redirects here and the test reads the Location header.
const REDIRECT_URI = 'http://127.0.0.1:9876/callback'

let dataDir: string
let as: AuthorizationServer
let issuer: string
let http: Server
let base: string

beforeAll(async () => {
  http = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  dataDir = await mkdtemp(join(tmpdir(), 'kb-mcp-code-'))
  as = await createAuthorizationServer(
    {
      clients: [
        {
          client_id: 'mcp-app',
          client_name: 'mcp-code-test',
          redirect_uris: [REDIRECT_URI],
          grant_types: ['authorization_code'],
          token_endpoint_auth_method: 'none',
          scope: 'mcp',
          dpop_bound_access_tokens: true,
        },
      ],
      users: [
        {
          username: 'alice',
          passwordHash: await hashPassword(PASSWORD, { N: 2 ** 14, r: 8, p: 1 }),
          subject: 'user-alice',
        },
      ],
      registration: { initialAccessToken: INITIAL_ACCESS_TOKEN, allowedScopes: ['mcp'] },
      resources: [{ identifier: `${base}/mcp` }],
      passwords: { scryptLogN: 14 },
      storage: { dataDir },
    },
    { logger: false as never, env: {} },
  )
  issuer = await as.listen()
  http.on('request', createMcpApp({ publicBaseUrl: base, issuer }).app)
})
afterAll(async () => {
  http?.closeAllConnections()
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()))
  await as?.close()
  await rm(dataDir, { recursive: true, force: true })
})

/** Posts one of the AS's HTML forms with the sign-in cookie, not following the redirect. */
function postForm(url: URL, cookie: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams(form),
  })
}

/** Opens the AS's login page, signs alice in, allows the consent, returns the redirect. */
async function signInAlice(authorizationUrl: string): Promise<string> {
  const page = await fetch(authorizationUrl)
  expect(page.status).toBe(200)
  const interaction = /name="interaction" value="([^"]+)"/.exec(await page.text())?.[1]
  const cookie = page.headers.get('set-cookie')?.split(';')[0]
  if (interaction === undefined || cookie === undefined) throw new Error('no login form')
  const login = await postForm(new URL('/authorize/login', authorizationUrl), cookie, {
    interaction,
    username: 'alice',
    password: PASSWORD,
  })
  expect(login.status).toBe(200)
  expect(await login.text()).toContain('mcp-code-test')
  const consent = await postForm(new URL('/authorize/consent', authorizationUrl), cookie, {
    interaction,
    decision: 'allow',
  })
  await consent.body?.cancel()
  expect(consent.status).toBe(303)
  return new URL(consent.headers.get('location')!, authorizationUrl).href
}

describe('authorizationCodeGrant for the MCP client', () => {
  it('signs the user in, redeems a DPoP-bound code and calls a tool', async () => {
    const { client, close } = await connectMcpClient(`${base}/mcp`, {
      key: await generateKeyPair('ES256'),
      allowInsecureHttp: true,
      scope: 'mcp',
      obtainToken: authorizationCodeGrant({
        clientId: 'mcp-app',
        redirectUri: REDIRECT_URI,
        authorize: signInAlice,
      }),
    })
    try {
      const { tools } = await client.listTools()
      expect(tools.map((tool) => tool.name)).toContain('whoami')
      const answer = await client.callTool({ name: 'whoami', arguments: {} })
      expect(JSON.stringify(answer.content)).toContain('user-alice')
    } finally {
      await close()
    }
  })

  // Self-registration (RFC 7591) without the initial access token this AS requires.
  it('registering itself at an AS that wants an initial access token fails with its 401', async () => {
    const connecting = connectMcpClient(`${base}/mcp`, {
      key: await generateKeyPair('ES256'),
      allowInsecureHttp: true,
      obtainToken: authorizationCodeGrant({ redirectUri: REDIRECT_URI, authorize: signInAlice }),
    })
    await expect(connecting).rejects.toMatchObject({ status: 401 })
  })
})

describe('listenMcpApp', () => {
  it('listens on a free port and serves the app there until closed', async () => {
    const { url, close } = await listenMcpApp(createMcpApp({ publicBaseUrl: base, issuer }).app, 0)
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const metadata = await fetch(`${url}/.well-known/oauth-protected-resource/mcp`)
      expect(metadata.status).toBe(200)
      expect(await metadata.json()).toMatchObject({ resource: `${base}/mcp` })
    } finally {
      await close()
    }
    await expect(fetch(`${url}/.well-known/oauth-protected-resource/mcp`)).rejects.toThrow()
  })
})
