/**
 * What a browser-based client on another origin needs from the AS: CORS on the metadata, JWKS,
 * token, PAR and revocation endpoints for the configured origins only (the DPoP-Nonce of a
 * `use_dpop_nonce` answer readable), and a login page whose `form-action` lets the redirect to
 * the client through (browsers check form-action on the redirect after the post, CSP3 §6.3.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, resolveConfig } from '../src/index.js'
import { pkce, REDIRECT, startServer, type TestServer } from './support.js'

const APP = 'http://127.0.0.1:9'
const OTHER = 'http://127.0.0.1:10'

let server: TestServer

beforeAll(async () => {
  server = await startServer('sqlite', { cors: { allowedOrigins: [APP] } })
})

afterAll(async () => {
  await server?.close()
})

describe('CORS for browser clients', () => {
  it('answers the preflight of /token for an allowed origin, and refuses other origins', async () => {
    const preflight = (origin: string) =>
      fetch(server.url('/token'), {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type, dpop',
        },
      })
    const allowed = await preflight(APP)
    expect(allowed.status).toBe(204)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP)
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/DPoP/)
    expect(allowed.headers.get('access-control-allow-methods')).toBe('POST')
    const refused = await preflight(OTHER)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('lets the allowed origin read a use_dpop_nonce answer and its DPoP-Nonce', async () => {
    const response = await fetch(server.url('/token'), {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    })
    expect(response.status).toBeGreaterThanOrEqual(400)
    expect(response.headers.get('access-control-allow-origin')).toBe(APP)
    expect(response.headers.get('access-control-expose-headers')).toMatch(/DPoP-Nonce/)
    expect(response.headers.get('vary')).toMatch(/Origin/)
  })

  it('covers metadata and JWKS but not introspection or the authorization endpoint', async () => {
    const read = (path: string) => fetch(server.url(path), { headers: { origin: APP } })
    for (const path of ['/.well-known/oauth-authorization-server', '/jwks']) {
      expect((await read(path)).headers.get('access-control-allow-origin'), path).toBe(APP)
    }
    const introspect = await fetch(server.url('/introspect'), {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=x',
    })
    expect(introspect.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('sends no CORS headers when no origin is configured', async () => {
    const plain = await startServer('sqlite')
    try {
      const response = await fetch(plain.url('/jwks'), { headers: { origin: APP } })
      expect(response.headers.get('access-control-allow-origin')).toBeNull()
    } finally {
      await plain.close()
    }
  })

  it('accepts only origins in the config', () => {
    const issues = (() => {
      try {
        resolveConfig(
          { cors: { allowedOrigins: ['https://app.example/path', 'http://app.example'] } },
          {},
        )
      } catch (error) {
        if (error instanceof ConfigError) return error.issues
        throw error
      }
      return []
    })()
    expect(issues).toEqual([
      'cors.allowedOrigins[0]: must be an origin (scheme://host[:port]) without a path or query',
      'cors.allowedOrigins[1]: must be an absolute https URL or loopback http',
    ])
  })
})

describe('the login page', () => {
  it("allows the form post's redirect to the client's redirect URI (form-action)", async () => {
    const { challenge } = pkce()
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'public-app',
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'xyz',
    })
    const page = await fetch(server.url(`/authorize?${query}`))
    expect(page.status).toBe(200)
    const policy = page.headers.get('content-security-policy') ?? ''
    expect(policy).toMatch(new RegExp(`form-action 'self' ${new URL(REDIRECT).origin}(;|$)`))
  })
})
