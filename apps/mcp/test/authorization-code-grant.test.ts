/**
 * The MCP client's authorization-code grant (RFC 9449 §10, PKCE, RFC 7591 self-registration)
 * against the real Keybound authorization server over loopback HTTP, on every Node: the
 * conformance suite exercises the same path only on Node 22 and later. `authorize` signs alice
 * in on the AS's own login form, as a user's browser would, and hands back the redirect.
 */
import { hashPassword } from '@keybound/authorization-server'
import { generateKeyPair } from '@keybound/core'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMcpStack, type McpStack } from '@keybound/test-kit/mcp-stack'
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

let stack: McpStack

beforeAll(async () => {
  stack = await startMcpStack({
    authorizationServer: {
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
      passwords: { scryptLogN: 14 },
    },
    createApp: (base, issuer) => createMcpApp({ publicBaseUrl: base, issuer }).app,
  })
})
afterAll(() => stack?.close())

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

/** Calls `whoami` and returns what the MCP server saw of the token. */
async function whoami(
  client: Client,
): Promise<{ subject: string; clientId: string; scope: string[] }> {
  const answer = await client.callTool({ name: 'whoami', arguments: {} })
  const [content] = answer.content as Array<{ text: string }>
  return JSON.parse(content!.text)
}

describe('authorizationCodeGrant for the MCP client', () => {
  it('signs the user in, redeems a DPoP-bound code and calls a tool', async () => {
    const { client, close } = await connectMcpClient(stack.resource, {
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
      expect(await whoami(client)).toMatchObject({ subject: 'user-alice', clientId: 'mcp-app' })
    } finally {
      await close()
    }
  })

  // The server's 401 names no scope and no `scope` option is set: the client registers and asks
  // for the resource's scopes_supported (["mcp"]), which this AS lets registered clients have.
  it('registers itself with the scope the resource lists, signs in and calls a tool', async () => {
    const { client, close } = await connectMcpClient(stack.resource, {
      key: await generateKeyPair('ES256'),
      allowInsecureHttp: true,
      obtainToken: authorizationCodeGrant({
        redirectUri: REDIRECT_URI,
        clientName: 'mcp-code-test',
        initialAccessToken: INITIAL_ACCESS_TOKEN,
        authorize: signInAlice,
      }),
    })
    try {
      const seen = await whoami(client)
      expect(seen).toMatchObject({ subject: 'user-alice', scope: ['mcp'] })
      expect(seen.clientId).not.toBe('mcp-app') // the id the AS gave the registration
    } finally {
      await close()
    }
  })

  // Self-registration (RFC 7591) without the initial access token this AS requires.
  it('registering itself at an AS that wants an initial access token fails with its 401', async () => {
    const connecting = connectMcpClient(stack.resource, {
      key: await generateKeyPair('ES256'),
      allowInsecureHttp: true,
      obtainToken: authorizationCodeGrant({ redirectUri: REDIRECT_URI, authorize: signInAlice }),
    })
    await expect(connecting).rejects.toMatchObject({ status: 401 })
  })

  // A registration endpoint that answers 201 with no client_id is broken; the client stops there.
  it('refuses a registration response without a client_id', async () => {
    const withoutClientId: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      if (!String(input).endsWith('/register')) return response
      const { client_id: _dropped, ...rest } = (await response.json()) as Record<string, unknown>
      return Response.json(rest, { status: response.status })
    }
    const connecting = connectMcpClient(stack.resource, {
      key: await generateKeyPair('ES256'),
      allowInsecureHttp: true,
      obtainToken: authorizationCodeGrant({
        redirectUri: REDIRECT_URI,
        initialAccessToken: INITIAL_ACCESS_TOKEN,
        fetch: withoutClientId,
        authorize: signInAlice,
      }),
    })
    await expect(connecting).rejects.toThrow('the registration response has no client_id')
  })
})

describe('listenMcpApp', () => {
  it('listens on a free port and serves the app there until closed', async () => {
    const app = createMcpApp({ publicBaseUrl: stack.base, issuer: stack.issuer }).app
    const { url, close } = await listenMcpApp(app, 0)
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const metadata = await fetch(`${url}/.well-known/oauth-protected-resource/mcp`)
      expect(metadata.status).toBe(200)
      expect(await metadata.json()).toMatchObject({ resource: stack.resource })
    } finally {
      await close()
    }
    await expect(fetch(`${url}/.well-known/oauth-protected-resource/mcp`)).rejects.toThrow()
  })
})
