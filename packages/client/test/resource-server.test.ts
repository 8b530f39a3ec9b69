/**
 * The DPoP fetch against a real resource server from @keybound/server (RFC 9068 JWT access
 * tokens from a local issuer's JWKS over HTTP, RS nonces on).
 */
import { generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDPoPFetch,
  createNonceCache,
  findChallenge,
  parseWwwAuthenticate,
} from '../src/index.js'
import { startProtectedApi, type ProtectedApi } from './support/protected-api.js'

let api: ProtectedApi
let issuer: TestIssuer
let key: DPoPKeyPair
let otherKey: DPoPKeyPair

beforeAll(async () => {
  ;[api, key, otherKey] = await Promise.all([
    startProtectedApi(),
    generateKeyPair('ES256'),
    generateKeyPair('PS256'),
  ])
  // The issuer needs the API's URL first: it is the audience of every token.
  issuer = await startTestIssuer({ audience: api.resource, scope: 'api:read' })
  await api.trust({ issuer: issuer.issuer, jwksUri: issuer.jwksUri })
})
afterAll(async () => {
  await Promise.all([api.close(), issuer.close()])
})

describe('createDPoPFetch at a @keybound/server resource server', () => {
  it('answers the RS nonce challenge once, then reuses the nonce on the next requests', async () => {
    const token = await issuer.mint({ jkt: key.jkt })
    const apiFetch = createDPoPFetch({ fetch, key, accessToken: token })
    const before = api.statuses.length
    const first = await apiFetch(`${api.resource}/items?page=1`)
    expect(first.status).toBe(200)
    expect(await first.json()).toMatchObject({ jkt: key.jkt, subject: 'alice', path: '/items' })
    expect((await apiFetch(`${api.resource}/items/2`, { method: 'DELETE' })).status).toBe(200)
    expect(api.statuses.slice(before)).toEqual([401, 200, 200])
  })

  it('replays a streamed POST body through the nonce retry at the real RS', async () => {
    const token = await issuer.mint({ jkt: key.jkt })
    const apiFetch = createDPoPFetch({ fetch, key, accessToken: token })
    const body = new Blob(['a'.repeat(70_000)]).stream()
    const response = await apiFetch(`${api.resource}/upload`, {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(200)
  })

  it('a token bound to another key is refused with invalid_token (RS2), after the nonce retry', async () => {
    const token = await issuer.mint({ jkt: key.jkt })
    const response = await createDPoPFetch({ fetch, key: otherKey, accessToken: token })(
      `${api.resource}/items`,
    )
    expect(response.status).toBe(401)
    expect(findChallenge(parseWwwAuthenticate(response.headers), 'dpop')?.params.error).toBe(
      'invalid_token',
    )
  })

  it('nonces stay per origin: the RS nonce is kept under the RS origin only', async () => {
    const nonces = createNonceCache()
    const token = await issuer.mint({ jkt: key.jkt })
    await createDPoPFetch({ fetch, key, accessToken: token, nonces })(`${api.resource}/items`)
    expect(nonces.get(api.resource)).toBeTypeOf('string')
    expect(nonces.get(issuer.url)).toBeUndefined()
  })

  it('an expired token is refused, and no token appears in the challenge', async () => {
    const token = await issuer.mint({ jkt: key.jkt, expiresIn: -120 })
    const response = await createDPoPFetch({ fetch, key, accessToken: token })(
      `${api.resource}/items`,
    )
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).not.toContain(token)
  })
})
