/**
 * CORS for browser DPoP clients: preflights are answered by the gateway from the route's
 * `cors` setting (never forwarded, never refused with 401), and actual responses, refusals
 * included, carry the grant so that a page can read `WWW-Authenticate` and `DPoP-Nonce`.
 * The exact header values a browser checks are asserted over real HTTP.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createProof } from '@keybound/core'
import { send } from './support/http.js'
import {
  baseConfig,
  configProblems,
  dpopHeaders,
  PUBLIC_BASE,
  startHarness,
  type Harness,
  type RunningGateway,
} from './support/fixture.js'

const APP = 'https://app.example.test'
const OTHER = 'https://other.example.test'
const EVIL = 'https://evil.example.test'

let harness: Harness
let running: RunningGateway

/** The default `cors` for every route, a route with its own, and one with `cors: false`. */
const CORS_SETTINGS = {
  cors: { origins: [APP], exposeHeaders: ['X-Upstream'] },
  routes: [
    { path: '/public/*', methods: ['GET'], public: true },
    { path: '/items/:id', methods: ['GET', 'DELETE'], scopes: ['items:read'] },
    {
      path: '/upload',
      methods: ['POST', 'PUT'],
      scopes: ['items:read'],
      cors: {
        origins: [OTHER],
        allowHeaders: ['Content-Type', 'X-Trace'],
        maxAgeSeconds: 60,
        credentials: true,
      },
    },
    { prefix: '/internal', scopes: ['items:read'], cors: false },
  ],
}

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', scope: 'items:read' })
  running = await harness.gateway(CORS_SETTINGS)
})

afterAll(() => harness.close())

let hitsBefore = 0
beforeEach(() => {
  hitsBefore = harness.upstream.hits()
})

/** A preflight as a browser sends it: no credentials, the method and headers it wants. */
function preflight(path: string, origin: string, method: string, headers = 'authorization,dpop') {
  return send(`${running.url}${path}`, {
    method: 'OPTIONS',
    headers: [
      ['origin', origin],
      ['access-control-request-method', method],
      ['access-control-request-headers', headers],
    ],
  })
}

const CORS_GRANT_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-allow-credentials',
  'access-control-max-age',
]

describe('preflights', () => {
  it('on a protected route: 204 from the gateway with the exact grant, never forwarded', async () => {
    const response = await preflight('/items/1', APP, 'GET')
    expect(response.status).toBe(204)
    expect(response.text).toBe('')
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(response.headers['access-control-allow-methods']).toBe('GET, DELETE, HEAD')
    expect(response.headers['access-control-allow-headers']).toBe(
      'Authorization, DPoP, Content-Type',
    )
    expect(response.headers['access-control-max-age']).toBe('600')
    expect(response.headers['access-control-allow-credentials']).toBeUndefined()
    expect(response.headers.vary).toBe(
      'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    )
    expect(response.headers['www-authenticate']).toBeUndefined()
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('with credentials attached are still answered by the gateway, not forwarded', async () => {
    const response = await send(`${running.url}/items/1`, {
      method: 'OPTIONS',
      headers: await dpopHeaders(harness.key, harness.token, 'OPTIONS', '/items/1', [
        ['origin', APP],
        ['access-control-request-method', 'DELETE'],
      ]),
    })
    expect(response.status).toBe(204)
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('from an origin not allowed, or asking for a header not allowed: 403, no grant', async () => {
    for (const response of [
      await preflight('/items/1', EVIL, 'GET'),
      await preflight('/items/1', 'null', 'GET'),
      await preflight('/items/1', APP, 'GET', 'authorization, dpop, x-secret'),
    ]) {
      expect(response.status).toBe(403)
      expect(JSON.parse(response.text)).toEqual({ error: 'cors_refused' })
      for (const name of CORS_GRANT_HEADERS) expect(response.headers[name]).toBeUndefined()
    }
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('for a method the route does not allow: no grant, never forwarded', async () => {
    const response = await preflight('/items/1', APP, 'PATCH')
    expect(response.status).toBe(405)
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it("a route's own cors replaces the default: its origins, headers, age and credentials", async () => {
    const granted = await preflight(
      '/upload',
      OTHER,
      'PUT',
      'authorization,content-type,dpop,x-trace',
    )
    expect(granted.status).toBe(204)
    expect(granted.headers['access-control-allow-origin']).toBe(OTHER)
    expect(granted.headers['access-control-allow-methods']).toBe('POST, PUT')
    expect(granted.headers['access-control-allow-headers']).toBe(
      'Authorization, DPoP, Content-Type, X-Trace',
    )
    expect(granted.headers['access-control-max-age']).toBe('60')
    expect(granted.headers['access-control-allow-credentials']).toBe('true')
    expect((await preflight('/upload', APP, 'PUT')).status).toBe(403)
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('cors: false on a route: a preflight there is an ordinary OPTIONS request (401)', async () => {
    const response = await preflight('/internal/x', APP, 'GET')
    expect(response.status).toBe(401)
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('on a public route: answered by the gateway too', async () => {
    const response = await preflight('/public/doc', APP, 'GET')
    expect(response.status).toBe(204)
    expect(response.headers['access-control-allow-methods']).toBe('GET, HEAD')
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })
})

describe('actual responses', () => {
  const EXPOSED = 'WWW-Authenticate, DPoP-Nonce, X-Upstream'

  it('a refusal (no credentials) carries the grant, so the page can read the challenge', async () => {
    const response = await send(`${running.url}/items/1`, { headers: [['origin', APP]] })
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toBe('DPoP algs="ES256"')
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(response.headers['access-control-expose-headers']).toBe(EXPOSED)
    expect(response.headers.vary).toBe('Origin')
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('an accepted call carries the grant next to the harness.upstream headers', async () => {
    const response = await send(`${running.url}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1', [['origin', APP]]),
    })
    expect(response.status).toBe(200)
    expect(response.headers['x-upstream']).toBe('yes')
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(response.headers['access-control-expose-headers']).toBe(EXPOSED)
    expect(response.headers['access-control-allow-credentials']).toBeUndefined()
    expect(response.headers.vary).toBe('Origin')
    expect(harness.upstream.received.at(-1)!.headers['x-keybound-subject']).toBe('alice')
  })

  it('from an origin not allowed: served, but without a grant the browser would honour', async () => {
    const response = await send(`${running.url}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1', [['origin', EVIL]]),
    })
    expect(response.status).toBe(200)
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(response.headers.vary).toBe('Origin')
  })

  it('a public route: the grant with the credentials setting of the route', async () => {
    const response = await send(`${running.url}/public/doc`, { headers: [['origin', APP]] })
    expect(response.status).toBe(200)
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(response.headers['access-control-expose-headers']).toBe(EXPOSED)
  })

  it("the upstream's own CORS grant is replaced by the route's, its Vary kept", async () => {
    for (const [origin, granted] of [
      [APP, APP],
      [EVIL, undefined],
    ] as const) {
      const response = await send(`${running.url}/public/own-cors`, {
        headers: [['origin', origin]],
      })
      expect(response.status).toBe(200)
      expect(response.headers['access-control-allow-origin']).toBe(granted)
      expect(response.headers['access-control-allow-credentials']).toBeUndefined()
      expect(response.headers['access-control-expose-headers']).toBe(
        granted === undefined ? undefined : EXPOSED,
      )
      expect(response.headers.vary).toBe('Accept-Encoding, Origin')
    }
  })

  it('use_dpop_nonce: DPoP-Nonce is exposed, and the retry with the nonce goes through', async () => {
    const strict = await harness.gateway(
      { ...CORS_SETTINGS, nonces: { secretEnv: 'GATEWAY_NONCE_SECRET' } },
      { env: { GATEWAY_NONCE_SECRET: 'n'.repeat(40) } },
    )
    const first = await send(`${strict.url}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1', [['origin', APP]]),
    })
    expect(first.status).toBe(401)
    expect(first.headers['access-control-allow-origin']).toBe(APP)
    expect(first.headers['access-control-expose-headers']).toBe(EXPOSED)
    const nonce = first.headers['dpop-nonce'] as string
    expect(nonce).toMatch(/^[\w.-]+$/)
    const proof = await createProof(harness.key, {
      htm: 'GET',
      htu: `${PUBLIC_BASE}/items/1`,
      accessToken: harness.token,
      nonce,
    })
    const second = await send(`${strict.url}/items/1`, {
      headers: [
        ['origin', APP],
        ['authorization', `DPoP ${harness.token}`],
        ['dpop', proof],
      ],
    })
    expect(second.status).toBe(200)
    expect(second.headers['access-control-allow-origin']).toBe(APP)
  })

  it('a route without cors gets no CORS headers from the gateway', async () => {
    const response = await send(`${running.url}/internal/x`, { headers: [['origin', APP]] })
    expect(response.status).toBe(401)
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(response.headers.vary).toBeUndefined()
  })
})

describe('configuration', () => {
  it('names every bad cors field by its path', () => {
    const problems = configProblems(
      baseConfig(harness.issuer, harness.upstream, {
        cors: { origins: ['*'], credentials: true, maxAge: 5 },
        routes: [
          {
            path: '/a',
            cors: { origins: ['https://app.example.test/', 'HTTPS://APP.example.test', '*'] },
          },
          { path: '/b', cors: { allowHeaders: ['bad header'], maxAgeSeconds: 100_000 } },
          { path: '/c', cors: true },
        ],
      }),
    )
    for (const expected of [
      'cors.maxAge: is not a known setting',
      'cors.credentials: cannot be true with origins ["*"]',
      'routes[0].cors.origins: "*" must be the only entry',
      'routes[0].cors.origins[0]: must be an origin such as https://app.example.com',
      'routes[0].cors.origins[1]: must be an origin',
      'routes[1].cors.origins: is required',
      'routes[1].cors.allowHeaders[0]: must be a header name (RFC 9110 §5.1)',
      'routes[1].cors.maxAgeSeconds: must be a whole number from 0 to 86400',
      'routes[2].cors: must be an object',
    ])
      expect(problems).toContainEqual(expect.stringContaining(expected))
  })

  it('origins: ["*"] grants any origin, echoed', async () => {
    const open = await harness.gateway({ ...CORS_SETTINGS, cors: { origins: ['*'] } })
    const response = await send(`${open.url}/items/1`, {
      method: 'OPTIONS',
      headers: [
        ['origin', EVIL],
        ['access-control-request-method', 'GET'],
      ],
    })
    expect(response.status).toBe(204)
    expect(response.headers['access-control-allow-origin']).toBe(EVIL)
  })
})
