/**
 * Traefik `forwardAuth` and Envoy HTTP `ext_authz` BY CONTRACT: neither is packaged here, so
 * these tests send the verify service the exact check requests those proxies send and apply
 * its answer the way they do, as their source and documentation define it:
 *
 * - Traefik (pkg/middlewares/auth/forward.go): a GET to the configured address carrying the
 *   client's headers minus hop-by-hop ones, plus `X-Forwarded-For`, `-Method`, `-Proto`,
 *   `-Host` and `-Uri` (the client's own copies replaced, `trustForwardHeader: false`). A 2xx
 *   lets the request through after each `authResponseHeaders` name is deleted from it and set
 *   from the answer; anything else goes to the client as is (status, headers, body).
 * - Envoy HTTP ext_authz: the client's method, `path_prefix` + the client's path, and only
 *   `Host`, `Authorization`, `Content-Length` (0) plus the `allowed_headers` (here `dpop`).
 *   200 allows: `allowed_upstream_headers` overwrite the request's, `x-envoy-auth-headers-to-remove`
 *   removes, `allowed_client_headers_on_success` reach the client. Any other status is a denial
 *   sent to the client with its body and `allowed_client_headers`.
 *
 * The check address, `path_prefix` and header lists come from the recipes in `docs/edge/`, so
 * the recipes and these tests cannot drift apart. Denials must equal the in-process gateway's,
 * as through nginx and Caddy.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createProof } from '@keybound/core'
import { send, type Received } from './support/http.js'
import { PUBLIC_BASE, dpopHeaders, type Harness } from './support/fixture.js'
import {
  DENIAL_CASES,
  IDENTITY,
  denialPath,
  startEdgeHarness,
  withPreviousStepNonce,
  type EdgeHarness,
  seen,
  startVerify,
  type RunningVerify,
} from './support/verify.js'

function recipe(file: string): any {
  return parse(readFileSync(new URL(`../../../docs/edge/${file}`, import.meta.url), 'utf8'))
}

const exactNames = (matcher: { patterns: Array<{ exact: string }> }) =>
  matcher.patterns.map((pattern) => pattern.exact.toLowerCase())

const TRAEFIK = recipe('traefik.yaml').http.middlewares['keybound-dpop'].forwardAuth
/** The check path of the recipe's `address`. */
const TRAEFIK_PATH = new URL(TRAEFIK.address.replace('__KEYBOUND__', 'keybound')).pathname
const TRAEFIK_RESPONSE_HEADERS: string[] = TRAEFIK.authResponseHeaders.map((name: string) =>
  name.toLowerCase(),
)
/** Traefik's `forward.HopHeaders`. */
const TRAEFIK_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailers',
  'transfer-encoding',
  'upgrade',
])

const ENVOY =
  recipe('envoy.yaml').static_resources.listeners[0].filter_chains[0].filters[0].typed_config
    .http_filters[0].typed_config.http_service
const ENVOY_PREFIX: string = ENVOY.path_prefix
/** Always sent by Envoy, plus the recipe's `allowed_headers`. */
const ENVOY_ALLOWED_REQUEST = new Set([
  'host',
  'authorization',
  'content-length',
  ...exactNames(ENVOY.authorization_request.allowed_headers),
])
const ENVOY_UPSTREAM = exactNames(ENVOY.authorization_response.allowed_upstream_headers)
const ENVOY_CLIENT_ON_DENY = exactNames(ENVOY.authorization_response.allowed_client_headers)
const ENVOY_CLIENT_ON_SUCCESS = exactNames(
  ENVOY.authorization_response.allowed_client_headers_on_success,
)

/** A client request as the proxy got it. */
interface ClientRequest {
  method: string
  uri: string
  headers: Array<[string, string]>
}

/** What the proxy does: forward (with these request headers) or answer the client itself. */
type Outcome =
  | { kind: 'forward'; headers: Map<string, string>; clientHeaders: Record<string, string> }
  | { kind: 'deny'; response: Received }

function lowerPairs(headers: Array<[string, string]>): Array<[string, string]> {
  return headers.map(([name, value]) => [name.toLowerCase(), value])
}

/** Traefik's forwardAuth with `authResponseHeaders` = the identity headers. */
async function traefik(address: string, request: ClientRequest): Promise<Outcome> {
  const copied = lowerPairs(request.headers).filter(
    ([name]) => !TRAEFIK_HOP.has(name) && !name.startsWith('x-forwarded-'),
  )
  const answer = await send(address, {
    method: 'GET',
    headers: [
      ...copied,
      ['x-forwarded-for', '198.51.100.7'],
      ['x-forwarded-method', request.method],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'api.example.test'],
      ['x-forwarded-uri', request.uri],
    ],
  })
  if (answer.status < 200 || answer.status >= 300) return { kind: 'deny', response: answer }
  const forwarded = new Map(lowerPairs(request.headers))
  for (const name of TRAEFIK_RESPONSE_HEADERS) {
    forwarded.delete(name)
    const value = answer.headers[name]
    if (typeof value === 'string') forwarded.set(name, value)
  }
  return { kind: 'forward', headers: forwarded, clientHeaders: {} }
}

/** Envoy's HTTP ext_authz with the recipe's `path_prefix` and header lists. */
async function envoy(base: string, request: ClientRequest): Promise<Outcome> {
  const sent = lowerPairs(request.headers).filter(([name]) => ENVOY_ALLOWED_REQUEST.has(name))
  const answer = await send(`${base}${ENVOY_PREFIX}${request.uri}`, {
    method: request.method,
    headers: [['host', 'api.example.test'], ['content-length', '0'], ...sent],
  })
  if (answer.status !== 200) {
    const kept: Record<string, string> = {}
    for (const name of ENVOY_CLIENT_ON_DENY)
      if (typeof answer.headers[name] === 'string') kept[name] = answer.headers[name] as string
    return { kind: 'deny', response: { ...answer, headers: kept } }
  }
  const forwarded = new Map(lowerPairs(request.headers))
  for (const name of ENVOY_UPSTREAM) {
    const value = answer.headers[name]
    if (typeof value === 'string') forwarded.set(name, value)
  }
  const removals = String(answer.headers['x-envoy-auth-headers-to-remove'] ?? '')
  for (const name of removals.split(',')) forwarded.delete(name.trim())
  const clientHeaders: Record<string, string> = {}
  for (const name of ENVOY_CLIENT_ON_SUCCESS)
    if (typeof answer.headers[name] === 'string')
      clientHeaders[name] = answer.headers[name] as string
  return { kind: 'forward', headers: forwarded, clientHeaders }
}

let edge: EdgeHarness
let harness: Harness
let verify: RunningVerify
let gatewayUrl: string
let denials: EdgeHarness['denials']

beforeAll(async () => {
  edge = await startEdgeHarness()
  ;({ harness, verify, gatewayUrl, denials } = edge)
})

afterAll(async () => {
  await edge?.close()
})

const PROXIES = {
  traefik: (request: ClientRequest) => traefik(`${verify.url}${TRAEFIK_PATH}`, request),
  envoy: (request: ClientRequest) => envoy(verify.url, request),
}

describe.each(Object.keys(PROXIES) as Array<keyof typeof PROXIES>)('%s, by contract', (name) => {
  const proxy = (request: ClientRequest) => PROXIES[name](request)

  it('forwards with the identity, and with no client-sent copy of it', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/42', [
      ['X-Keybound-Subject', 'mallory'],
      ['x-keybound-scope', 'admin'],
    ])
    const outcome = await proxy({ method: 'GET', uri: '/items/42?page=2', headers })
    expect(outcome.kind).toBe('forward')
    const forwarded = (outcome as Extract<Outcome, { kind: 'forward' }>).headers
    expect(forwarded.get('x-keybound-subject')).toBe('alice')
    expect(forwarded.get('x-keybound-client-id')).toBe('app-1')
    expect(forwarded.get('x-keybound-scope')).toBe('items:read items:write')
    expect(forwarded.get('x-keybound-jkt')).toBe(harness.key.jkt)
  })

  it('forwards a public route with none of the identity headers a client sent', async () => {
    const outcome = await proxy({
      method: 'GET',
      uri: '/public/readme',
      headers: IDENTITY.map((header) => [header, 'forged']),
    })
    expect(outcome.kind).toBe('forward')
    for (const header of IDENTITY)
      expect((outcome as Extract<Outcome, { kind: 'forward' }>).headers.has(header)).toBe(false)
  })

  it.each(DENIAL_CASES)('denies "%s" exactly as the gateway', async (denial) => {
    const uri = denialPath(denial)
    const reference = await send(`${gatewayUrl}${uri}`, { headers: await denials[denial](uri) })
    const outcome = await proxy({ method: 'GET', uri, headers: await denials[denial](uri) })
    expect(outcome.kind).toBe('deny')
    expect(seen((outcome as Extract<Outcome, { kind: 'deny' }>).response)).toEqual(seen(reference))
  })

  it('denies a replayed proof', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'POST', '/upload')
    expect((await proxy({ method: 'POST', uri: '/upload', headers })).kind).toBe('forward')
    const replay = await proxy({ method: 'POST', uri: '/upload', headers })
    expect(replay.kind).toBe('deny')
    const response = (replay as Extract<Outcome, { kind: 'deny' }>).response
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toContain('error="invalid_dpop_proof"')
  })
})

describe('envoy, by contract: nonces', () => {
  it('hands a rotated nonce to the client on an allowed request', async () => {
    const strict = await startVerify(
      harness.issuer,
      { nonces: { secretEnv: 'NONCE_SECRET', stepSeconds: 1 } },
      { NONCE_SECRET: 'n'.repeat(40) },
    )
    const request = async (nonce?: string) => {
      const proof = await createProof(harness.key, {
        htm: 'GET',
        htu: `${PUBLIC_BASE}/items/1`,
        accessToken: harness.token,
        ...(nonce === undefined ? {} : { nonce }),
      })
      const headers: Array<[string, string]> = [
        ['authorization', `DPoP ${harness.token}`],
        ['dpop', proof],
      ]
      return envoy(strict.url, { method: 'GET', uri: '/items/1', headers })
    }
    try {
      const first = await request()
      expect(first.kind).toBe('deny')
      const nonce = (first as Extract<Outcome, { kind: 'deny' }>).response.headers['dpop-nonce']
      expect(nonce).toMatch(/^[\w.-]+$/)
      const rotated = await withPreviousStepNonce(
        async () =>
          ((await request()) as Extract<Outcome, { kind: 'deny' }>).response.headers[
            'dpop-nonce'
          ] as string,
        async (fresh) => {
          const answer = await request(fresh)
          return answer.kind === 'forward' ? answer.clientHeaders['dpop-nonce'] : undefined
        },
      )
      expect(rotated).toMatch(/^[\w.-]+$/)
    } finally {
      await strict.service.close()
    }
  })

  it('removes the spent credentials from the upstream request', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/2')
    const outcome = await envoy(verify.url, { method: 'GET', uri: '/items/2', headers })
    expect(outcome.kind).toBe('forward')
    const forwarded = (outcome as Extract<Outcome, { kind: 'forward' }>).headers
    expect(forwarded.has('authorization')).toBe(false)
    expect(forwarded.has('dpop')).toBe(false)
  })
})
