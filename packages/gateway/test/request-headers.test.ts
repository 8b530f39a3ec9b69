/**
 * Request headers a client could use to speak for the gateway or to redirect the upstream:
 * identity and forwarding headers spelled with `_` (CGI-style upstreams read `_` as `-`), and
 * method and path override headers. The upstream records what arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveGatewayConfig } from '../src/index.js'
import { send } from './support/http.js'
import {
  baseConfig,
  configProblems,
  dpopHeaders,
  PUBLIC_BASE,
  startHarness,
  type Harness,
} from './support/fixture.js'

let harness: Harness

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', clientId: 'app-1', scope: 'items:read' })
})

afterAll(() => harness.close())

async function gatewayWith(overrides: Record<string, unknown> = {}): Promise<string> {
  return (await harness.gateway(overrides)).url
}

/** Sends `extra` on a protected and on a public route; returns the headers each harness.upstream call got. */
async function forwardBoth(url: string, extra: Array<[string, string]>) {
  const protectedCall = await send(`${url}/items/1`, {
    headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1', extra),
  })
  expect(protectedCall.status).toBe(200)
  const onProtected = harness.upstream.received.at(-1)!.headers
  const publicCall = await send(`${url}/public/x`, { headers: extra })
  expect(publicCall.status).toBe(200)
  const onPublic = harness.upstream.received.at(-1)!.headers
  return [onProtected, onPublic]
}

/** What a TLS proxy in front sets, so that `htu` is the public URL under trustProxy. */
const PROXIED: Array<[string, string]> = [
  ['x-forwarded-proto', 'https'],
  ['x-forwarded-host', new URL(PUBLIC_BASE).host],
]

const UNDERSCORED: Array<[string, string]> = [
  ['X_Keybound_Subject', 'admin'],
  ['x_keybound-client_id', 'evil-app'],
  ['X_KEYBOUND_SCOPE', 'admin'],
  ['x_keybound_jkt', 'forged'],
  ['X_Forwarded_For', '10.6.6.6'],
  ['x_forwarded_host', 'evil.example'],
  ['X_Real_IP', '10.6.6.6'],
  ['Transfer_Encoding', 'chunked'],
  ['X_HTTP_Method_Override', 'DELETE'],
  ['x_original_url', '/admin/secret'],
]

describe('identity and forwarding headers spelled with underscores', () => {
  it('never reach the harness.upstream, on protected and public routes', async () => {
    const url = await gatewayWith()
    for (const headers of await forwardBoth(url, [...UNDERSCORED, ['x_request_id', 'kept']])) {
      for (const [name] of UNDERSCORED) expect(headers[name.toLowerCase()]).toBeUndefined()
      // A name that reads as nothing the gateway manages is the application's business.
      expect(headers.x_request_id).toBe('kept')
      expect(headers['x-forwarded-for']).toBe('127.0.0.1')
    }
    expect(harness.upstream.received.at(-2)!.headers['x-keybound-subject']).toBe('alice')
  })

  it('are dropped even where trustProxy keeps the real forwarding headers', async () => {
    const url = await gatewayWith({ trustProxy: true })
    for (const headers of await forwardBoth(url, [
      ...PROXIED,
      ['x-forwarded-for', '203.0.113.9'],
      ['X_Forwarded_For', '10.6.6.6'],
      ['x_forwarded_proto', 'http'],
    ])) {
      expect(headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1')
      expect(headers.x_forwarded_for).toBeUndefined()
      expect(headers.x_forwarded_proto).toBeUndefined()
    }
  })

  it('match identity header names that are themselves configured with underscores', async () => {
    const url = await gatewayWith({ identityHeaders: { subject: 'remote_user' } })
    const [onProtected, onPublic] = await forwardBoth(url, [['Remote-User', 'admin']])
    expect(onProtected!['remote-user']).toBeUndefined()
    expect(onProtected!.remote_user).toBe('alice')
    expect(onPublic!['remote-user']).toBeUndefined()
    expect(onPublic!.remote_user).toBeUndefined()
  })

  it('requestHeaders.underscores: drop-all drops every name with an underscore', async () => {
    const url = await gatewayWith({ requestHeaders: { underscores: 'drop-all' } })
    for (const headers of await forwardBoth(url, [
      ['x_request_id', 'dropped'],
      ['x-request-id', 'kept'],
    ])) {
      expect(headers.x_request_id).toBeUndefined()
      expect(headers['x-request-id']).toBe('kept')
    }
  })
})

it('identity header names that read as a reserved or override header are refused', () => {
  const problems = configProblems(
    baseConfig(harness.issuer, harness.upstream, {
      identityHeaders: {
        subject: 'X_Forwarded_User',
        clientId: 'x_http_method_override',
        scope: 'remote_scope',
        jkt: 'Remote-Scope',
      },
    }),
  )
  for (const expected of [
    'identityHeaders.subject: must not be X_Forwarded_User: the gateway reads or sets that header itself',
    'identityHeaders.clientId: must not be x_http_method_override: upstreams read it as a method or path override',
    'identityHeaders: header names must differ, also with `_` read as `-`',
  ])
    expect(problems).toContainEqual(expect.stringContaining(expected))
})

describe('method and path override headers', () => {
  const OVERRIDES: Array<[string, string]> = [
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X-HTTP-Method', 'DELETE'],
    ['X-Method-Override', 'DELETE'],
    ['X-Original-URL', '/admin/secret'],
    ['X-Rewrite-URL', '/admin/secret'],
    ['X-Forwarded-Prefix', '/admin'],
  ]

  it('are stripped by default, on protected and public routes, also with trustProxy', async () => {
    const plain = await gatewayWith()
    const proxied = await gatewayWith({ trustProxy: true })
    for (const [url, extra] of [
      [plain, OVERRIDES],
      [proxied, [...PROXIED, ...OVERRIDES]],
    ] as const)
      for (const headers of await forwardBoth(url, [...extra]))
        for (const [name] of OVERRIDES) expect(headers[name.toLowerCase()]).toBeUndefined()
  })

  it('are forwarded with requestHeaders.overrides: keep', async () => {
    const url = await gatewayWith({ requestHeaders: { overrides: 'keep' } })
    for (const headers of await forwardBoth(url, OVERRIDES))
      for (const [name, value] of OVERRIDES) expect(headers[name.toLowerCase()]).toBe(value)
  })

  it('bad requestHeaders settings are named by their path', () => {
    expect(() =>
      resolveGatewayConfig(
        baseConfig(harness.issuer, harness.upstream, {
          requestHeaders: { underscores: 'keep', overrides: true, extra: 1 },
        }),
      ),
    ).toThrow(
      /requestHeaders\.extra: is not a known setting[\s\S]*requestHeaders\.underscores: must be one of drop-reserved, drop-all[\s\S]*requestHeaders\.overrides: must be one of strip, keep/,
    )
  })
})
