/**
 * The gateway (and so the verify service, which builds the same validator) reads tokens from the
 * identity provider users run: `tokens.jwt.profile` / `tokens.introspection.profile` name the
 * provider's token shape, and a `tokens.jwt` without `jwksUri` finds the keys through the
 * issuer's OpenID Connect metadata. The Keycloak tokens here are minted by the test issuer in the
 * shape Keycloak documents (header `typ` `JWT`, the kind in the payload `typ`, the client in
 * `azp`): by fixture, as docs/identity-providers.md says, since Keycloak does not run in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { send } from './support/http.js'
import {
  AUDIENCE,
  configProblems,
  dpopHeaders,
  startHarness,
  type Harness,
} from './support/fixture.js'

let harness: Harness

beforeAll(async () => {
  harness = await startHarness()
})

afterAll(async () => {
  await harness?.close()
})

/** A Keycloak access token (or another kind, by its payload `typ`) bound to the harness key. */
function keycloakToken(kind: 'DPoP' | 'Refresh'): Promise<string> {
  return harness.issuer.mint({
    jkt: harness.key.jkt,
    typ: 'JWT',
    scope: 'openid items:read',
    // Keycloak names the client in `azp` and sends no `client_id`.
    claims: { typ: kind, azp: 'web-app', client_id: undefined },
  })
}

describe('gateway with tokens.jwt.profile keycloak, keys found by discovery (RS19, RS27)', () => {
  it('accepts a Keycloak DPoP token and hands the API its azp as the client id', async () => {
    const gateway = await harness.gateway({
      tokens: { jwt: { issuer: harness.issuer.issuer, audience: AUDIENCE, profile: 'keycloak' } },
    })
    const token = await keycloakToken('DPoP')
    const before = harness.upstream.hits()
    const response = await send(`${gateway.url}/items/7`, {
      headers: await dpopHeaders(harness.key, token, 'GET', '/items/7'),
    })
    expect(response.status).toBe(200)
    expect(harness.upstream.hits()).toBe(before + 1)
    const received = harness.upstream.received.at(-1)!
    expect(received.headers['x-keybound-client-id']).toBe('web-app')
    expect(received.headers['x-keybound-subject']).toBe('alice')
  })

  it('refuses a Keycloak refresh token presented as an access token', async () => {
    const gateway = await harness.gateway({
      tokens: { jwt: { issuer: harness.issuer.issuer, audience: AUDIENCE, profile: 'keycloak' } },
    })
    const token = await keycloakToken('Refresh')
    const before = harness.upstream.hits()
    const response = await send(`${gateway.url}/items/7`, {
      headers: await dpopHeaders(harness.key, token, 'GET', '/items/7'),
    })
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toContain('error="invalid_token"')
    expect(harness.upstream.hits()).toBe(before)
  })

  it('keeps the strict RFC 9068 check without a profile: the Keycloak token is refused', async () => {
    const gateway = await harness.gateway()
    const token = await keycloakToken('DPoP')
    const before = harness.upstream.hits()
    const response = await send(`${gateway.url}/items/7`, {
      headers: await dpopHeaders(harness.key, token, 'GET', '/items/7'),
    })
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toContain('error="invalid_token"')
    expect(harness.upstream.hits()).toBe(before)
  })
})

describe('gateway config: token profiles', () => {
  it('names an unknown profile and a provider without introspection by their paths', () => {
    const jwt = configProblems({
      listen: { port: 0 },
      publicBaseUrl: AUDIENCE,
      upstream: { url: 'http://127.0.0.1:9' },
      tokens: { jwt: { issuer: 'https://id.example.com', audience: AUDIENCE, profile: 'okt' } },
      routes: [{ prefix: '/' }],
    })
    expect(jwt.some((problem) => problem.startsWith('tokens.jwt.profile'))).toBe(true)
    const introspection = configProblems({
      listen: { port: 0 },
      publicBaseUrl: AUDIENCE,
      upstream: { url: 'http://127.0.0.1:9' },
      tokens: {
        introspection: {
          profile: 'auth0',
          endpoint: 'https://id.example.com/introspect',
          clientId: 'gateway',
          clientSecretEnv: 'UNSET_FOR_THIS_TEST',
          audience: AUDIENCE,
        },
      },
      routes: [{ prefix: '/' }],
    })
    expect(
      introspection.some((problem) => problem.startsWith('tokens.introspection.profile')),
    ).toBe(true)
  })
})
