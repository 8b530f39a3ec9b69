/**
 * Limits that hold under abuse, at the authorization server over real HTTP on 127.0.0.1: body
 * and header sizes, JSON nesting, slow clients (slowloris), and the rate limits of `/token`,
 * `/par` and sign-in (429 with `Retry-After`, RFC 6585 §4), which can be configured and
 * turned off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, resolveConfig } from '../src/index.js'
import { FixedWindowLimiter } from '../src/rate-limits/fixed-window.js'
import { recordReliability } from '@keybound/test-kit/reliability'
import { oversizedHeader, slowloris } from '@keybound/test-kit/abusive-clients'
import {
  authorize,
  basic,
  Dpop,
  PASSWORD,
  pkce,
  postForm,
  pushRequest,
  REDIRECT,
  startServer,
  type TestServer,
} from './support.js'

const REQUEST_TIMEOUT_MS = 1_000
let server: TestServer
let unlimited: TestServer
let requests = 0

beforeAll(async () => {
  ;[server, unlimited] = await Promise.all([
    startServer('sqlite', {
      limits: { bodyBytes: 4096, headerBytes: 4096, requestTimeoutMs: REQUEST_TIMEOUT_MS },
      rateLimits: {
        token: { max: 5, windowSeconds: 60 },
        par: { max: 3, windowSeconds: 60 },
        login: { max: 3, windowSeconds: 300 },
      },
    }),
    startServer('sqlite', { rateLimits: { enabled: false } }),
  ])
})

afterAll(async () => {
  await Promise.all([server?.close(), unlimited?.close()])
  recordReliability('as-limits', { requestsServed: requests })
})

describe('sizes, nesting and time', () => {
  it('refuses a body over limits.bodyBytes with 413 and a JSON error', async () => {
    const answer = await postForm(server.url('/token'), { grant_type: 'x', pad: 'a'.repeat(5000) })
    requests++
    expect(answer.status).toBe(413)
    expect(answer.body).toMatchObject({ error: 'invalid_request' })
  })

  it('refuses headers over limits.headerBytes with 431', async () => {
    requests++
    expect(await oversizedHeader(server.url('/token'), 5000)).toBe(431)
    // Under the limit the request reaches the endpoint.
    requests++
    expect([400, 401]).toContain(await oversizedHeader(server.url('/token'), 1000))
  })

  it('cuts off a slowloris client within limits.requestTimeoutMs (plus the check interval)', async () => {
    const heldMs = await slowloris(server.issuer)
    requests++
    expect(heldMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50)
    expect(heldMs).toBeLessThan(REQUEST_TIMEOUT_MS + 1_500)
    console.info(`slowloris cut off after ${Math.round(heldMs)} ms (limit ${REQUEST_TIMEOUT_MS})`)
  })

  it('refuses JSON nested deeper than limits.jsonDepth with 400 invalid_request, not 500', async () => {
    for (const depth of [17, 1000, 3000]) {
      const response = await fetch(unlimited.url('/register'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer initial-access-token-0123456789',
        },
        body: `{"redirect_uris":["https://app.example/cb"],"jwks":{"keys":[${'['.repeat(depth)}${']'.repeat(depth)}]}}`,
      })
      requests++
      expect(response.status, `depth ${depth}`).toBe(400)
      expect(await response.json()).toMatchObject({ error: 'invalid_request' })
    }
    // Shallow JSON still reaches the endpoint (which judges the metadata itself).
    const ok = await fetch(unlimited.url('/register'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer initial-access-token-0123456789',
      },
      body: JSON.stringify({ redirect_uris: ['https://app.example/cb'] }),
    })
    requests++
    expect(ok.status).toBe(201)
  })
})

describe('rate limits (429 with Retry-After)', () => {
  function expectLimited(answer: { status: number; headers: Headers; body: any }): void {
    expect(answer.status).toBe(429)
    const retryAfter = Number(answer.headers.get('retry-after'))
    expect(Number.isInteger(retryAfter)).toBe(true)
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(answer.headers.get('cache-control')).toBe('no-store')
  }

  it('/token: the client that goes over its budget gets 429, other clients do not', async () => {
    const dpop = await Dpop.create()
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const answer = await dpop.post(
        server.url('/token'),
        { grant_type: 'client_credentials' },
        basic('service'),
      )
      statuses.push(answer.status)
    }
    requests += 7
    // Only requests that reach client authentication count (not the nonce round trip).
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429])
    const limited = await postForm(
      server.url('/token'),
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    requests++
    expectLimited(limited)
    expect(limited.body).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'too many token requests, try again later',
    })
    // A wrong secret is refused by the limit too: guessing costs the same budget.
    expectLimited(
      await postForm(
        server.url('/token'),
        { grant_type: 'client_credentials' },
        basic('service', 'wrong-secret-000000'),
      ),
    )
    const other = await postForm(
      server.url('/token'),
      { grant_type: 'client_credentials' },
      basic('service-post'),
    )
    requests += 2
    expect(other.status).not.toBe(429)
  })

  it('/par: 429 after rate limits.par.max requests of one client', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const { answer } = await pushRequest(server.url('/par'), 'public-app')
      statuses.push(answer.status)
      if (i === 3) expectLimited(answer)
    }
    requests += 4
    expect(statuses).toEqual([201, 201, 201, 429])
  })

  it('sign-in: after login.max failures for a username, even the right password gets 429', async () => {
    const query = () => {
      const { challenge } = pkce()
      return {
        response_type: 'code',
        client_id: 'public-app',
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }
    }
    for (let i = 0; i < 3; i++) {
      const failed = await authorize(server.issuer, query(), { password: 'wrong password' })
      expect(failed.status).not.toBe(429)
      expect(failed.page).toContain('Invalid username or password.')
    }
    const blocked = await authorize(server.issuer, query(), { password: PASSWORD })
    requests += 8
    expect(blocked.status).toBe(429)
    expect(blocked.page).toContain('too many failed sign-ins')
    // The same flow on a server without the limit signs in.
    const allowed = await authorize(unlimited.issuer, query(), { password: PASSWORD })
    requests += 2
    expect(allowed.status).toBe(303)
  })

  it('rateLimits.enabled: false turns every limit off', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        postForm(
          unlimited.url('/token'),
          { grant_type: 'client_credentials' },
          basic('service-post'),
        ),
      ),
    )
    requests += answers.length
    expect(answers.some((answer) => answer.status === 429)).toBe(false)
  })

  it('the limiter table stays bounded under many distinct keys, and windows end', () => {
    let now = 0
    const limiter = new FixedWindowLimiter({ max: 2, windowSeconds: 10 }, () => now, 1000)
    for (let i = 0; i < 50_000; i++) limiter.hit(`client:${i}`)
    expect(limiter.size).toBe(1000)
    expect(limiter.hit('k')).toEqual({ allowed: true })
    expect(limiter.hit('k')).toEqual({ allowed: true })
    expect(limiter.hit('k')).toEqual({ allowed: false, retryAfter: 10 })
    now = 9_001
    expect(limiter.peek('k')).toEqual({ allowed: false, retryAfter: 1 })
    now = 10_000
    expect(limiter.hit('k')).toEqual({ allowed: true })
  })

  it('validates its settings: every bad field is named', () => {
    try {
      resolveConfig({
        limits: { bodyBytes: 10, colour: 1 },
        rateLimits: { enabled: 'yes', token: { max: 0 }, login: { windowSeconds: -1 }, other: {} },
      })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).issues).toEqual(
        expect.arrayContaining([
          'limits.bodyBytes: must be a whole number from 1024 to 16777216',
          'limits.colour: is not a known setting',
          'rateLimits.enabled: must be true or false',
          'rateLimits.token.max: must be a whole number from 1 to 1000000000',
          'rateLimits.login.windowSeconds: must be a whole number of seconds from 1 to 86400',
          'rateLimits.other: is not a known setting',
        ]),
      )
    }
    const defaults = resolveConfig({})
    expect(defaults.rateLimits).toEqual({
      enabled: true,
      token: { max: 3000, windowSeconds: 60 },
      par: { max: 600, windowSeconds: 60 },
      authorize: { max: 300, windowSeconds: 60 },
      introspect: { max: 6000, windowSeconds: 60 },
      login: { max: 10, windowSeconds: 300 },
      loginIp: { max: 100, windowSeconds: 300 },
      clientAuthFailures: { max: 100, windowSeconds: 60 },
      clientAuthFailuresIp: { max: 100, windowSeconds: 60 },
    })
    expect(defaults.limits).toEqual({
      bodyBytes: 65_536,
      headerBytes: 16_384,
      requestTimeoutMs: 30_000,
      jsonDepth: 16,
    })
  })
})
