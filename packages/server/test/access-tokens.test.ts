/**
 * Access-token validation against a real local issuer (JWKS over HTTP) and a real local
 * introspection endpoint: RFC 9068 checks, key rotation, introspection caching (bounded and
 * expiring), client authentication, and failing closed (503) when a dependency cannot answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  AccessTokenInvalid,
  AccessTokenUnavailable,
  createResourceServer,
  introspectedAccessTokens,
  jwtAccessTokens,
} from '@keybound/server'
import { listen } from '@keybound/test-kit/net'
import { startTestIntrospection, type TestIntrospection } from '@keybound/test-kit/introspection'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'

let issuer: TestIssuer
let introspection: TestIntrospection
let key: DPoPKeyPair

beforeAll(async () => {
  ;[issuer, introspection, key] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    startTestIntrospection(),
    generateKeyPair('ES256'),
  ])
})

afterAll(async () => {
  await Promise.all([issuer?.close(), introspection?.close()])
})

describe('jwtAccessTokens (RFC 9068)', () => {
  const validator = () =>
    jwtAccessTokens({
      issuer: issuer.issuer,
      audience: BASE,
      jwksUri: issuer.jwksUri,
      jwksOptions: { cooldownDuration: 0 },
    })

  it('returns the claims, scope and cnf.jkt of a valid token', async () => {
    const info = await validator().validate(await issuer.mint({ jkt: key.jkt, scope: 'a b' }))
    expect(info).toMatchObject({
      subject: 'alice',
      clientId: 'client-1',
      scope: ['a', 'b'],
      jkt: key.jkt,
    })
    expect(typeof info.expiresAt).toBe('number')
  })

  it('accepts typ application/at+jwt and refuses JWT, wrong iss, wrong aud and expired tokens', async () => {
    const accessTokens = validator()
    await expect(
      accessTokens.validate(await issuer.mint({ typ: 'application/at+jwt' })),
    ).resolves.toBeDefined()
    for (const options of [
      { typ: 'JWT' },
      { iss: 'https://other.example' },
      { aud: 'https://other-rs.example' },
      { expiresIn: -60 },
    ]) {
      await expect(accessTokens.validate(await issuer.mint(options))).rejects.toBeInstanceOf(
        AccessTokenInvalid,
      )
    }
  })

  it('refuses tokens missing RFC 9068 claims, with a malformed cnf.jkt, or not JWTs at all', async () => {
    const accessTokens = validator()
    await expect(
      accessTokens.validate(await issuer.mint({ claims: { client_id: undefined } })),
    ).rejects.toBeInstanceOf(AccessTokenInvalid)
    await expect(
      accessTokens.validate(await issuer.mint({ jkt: 'too-short' })),
    ).rejects.toBeInstanceOf(AccessTokenInvalid)
    await expect(
      accessTokens.validate('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'),
    ).rejects.toBeInstanceOf(AccessTokenInvalid)
  })

  it('remembers a verified token only until it expires, and never past cacheMaxAge', async () => {
    let now = Date.now()
    const accessTokens = jwtAccessTokens({
      issuer: issuer.issuer,
      audience: BASE,
      jwksUri: issuer.jwksUri,
      clockTolerance: 0,
      cacheMaxAge: 60,
      now: () => now,
    })
    const shortLived = await issuer.mint({ expiresIn: 5 })
    await expect(accessTokens.validate(shortLived)).resolves.toMatchObject({ subject: 'alice' })
    now += 6_000
    await expect(accessTokens.validate(shortLived)).rejects.toBeInstanceOf(AccessTokenInvalid)

    const longLived = await issuer.mint({ expiresIn: 3600 })
    await accessTokens.validate(longLived)
    now += 61_000
    // Past cacheMaxAge the token is verified again (and still valid), not answered from memory.
    await expect(accessTokens.validate(longLived)).resolves.toMatchObject({ subject: 'alice' })
  })

  it('picks up a key rotation at the issuer, and refuses tokens of a key no longer published', async () => {
    const accessTokens = validator()
    const oldToken = await issuer.mint()
    await accessTokens.validate(oldToken)
    const fetchesBefore = issuer.jwksFetches
    await issuer.rotate()
    const newToken = await issuer.mint()
    await expect(accessTokens.validate(newToken)).resolves.toMatchObject({ subject: 'alice' })
    expect(issuer.jwksFetches).toBeGreaterThan(fetchesBefore)
    await expect(accessTokens.validate(oldToken)).rejects.toBeInstanceOf(AccessTokenInvalid)
  })

  it('fails closed with AccessTokenUnavailable (503 at the resource server) when the JWKS cannot be fetched', async () => {
    const down = createServer((_req, res) => {
      res.statusCode = 500
      res.end()
    })
    const { url, close } = await listen(down)
    try {
      const accessTokens = jwtAccessTokens({
        issuer: issuer.issuer,
        audience: BASE,
        jwksUri: `${url}/jwks`,
      })
      const token = await issuer.mint({ jkt: key.jkt })
      await expect(accessTokens.validate(token)).rejects.toBeInstanceOf(AccessTokenUnavailable)
      const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
      const proof = await createProof(key, { htm: 'GET', htu: `${BASE}/x`, accessToken: token })
      const verdict = await resourceServer.verifyRequest({
        method: 'GET',
        url: '/x',
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      })
      expect(verdict).toMatchObject({ ok: false, status: 503, error: 'temporarily_unavailable' })
    } finally {
      await close()
    }
  })

  it('refuses symmetric algorithms and missing key sources when built', () => {
    expect(() =>
      jwtAccessTokens({
        issuer: 'x',
        audience: 'y',
        jwksUri: issuer.jwksUri,
        algorithms: ['HS256'],
      }),
    ).toThrow()
    expect(() => jwtAccessTokens({ issuer: 'x', audience: 'y' })).toThrow()
  })
})

describe('introspectedAccessTokens (RFC 7662, RFC 9449 §6.2)', () => {
  const options = () => ({
    endpoint: introspection.endpoint,
    clientId: introspection.clientId,
    clientSecret: introspection.clientSecret,
    audience: issuer.audience,
  })
  const active = (extra: Record<string, unknown> = {}) =>
    introspection.issue({
      aud: issuer.audience,
      sub: 'bob',
      scope: 'read',
      exp: Math.floor(Date.now() / 1000) + 300,
      ...extra,
    })

  it('authenticates with client_secret_basic or client_secret_post and sends no DPoP header', async () => {
    for (const clientAuthMethod of ['client_secret_basic', 'client_secret_post'] as const) {
      const from = introspection.calls.length
      const info = await introspectedAccessTokens({ ...options(), clientAuthMethod }).validate(
        active({ cnf: { jkt: key.jkt }, token_type: 'DPoP' }),
      )
      expect(info).toMatchObject({ subject: 'bob', scope: ['read'], jkt: key.jkt })
      expect(introspection.calls.slice(from)).toEqual([
        expect.objectContaining({ authenticated: true, dpopHeaderSent: false }),
      ])
    }
  })

  it('fails closed (unavailable) with wrong client credentials, a 500, or an unreachable endpoint', async () => {
    const token = active()
    await expect(
      introspectedAccessTokens({ ...options(), clientSecret: 'wrong' }).validate(token),
    ).rejects.toBeInstanceOf(AccessTokenUnavailable)
    introspection.failWith(500)
    try {
      await expect(introspectedAccessTokens(options()).validate(token)).rejects.toBeInstanceOf(
        AccessTokenUnavailable,
      )
    } finally {
      introspection.failWith(undefined)
    }
    await expect(
      introspectedAccessTokens({
        ...options(),
        endpoint: 'http://127.0.0.1:9/introspect',
        timeoutMs: 2000,
      }).validate(token),
    ).rejects.toBeInstanceOf(AccessTokenUnavailable)
  })

  it('refuses inactive, expired, token_type-inconsistent and unbindable tokens', async () => {
    const accessTokens = introspectedAccessTokens(options())
    const refused = [
      active({ active: false }),
      active({ exp: Math.floor(Date.now() / 1000) - 1 }),
      active({ cnf: { jkt: key.jkt }, token_type: 'Bearer' }),
      active({ token_type: 'DPoP' }),
      active({ cnf: 'not an object' }),
      'unknown-token',
    ]
    for (const token of refused)
      await expect(accessTokens.validate(token)).rejects.toBeInstanceOf(AccessTokenInvalid)
  })

  it('caches active results until exp, never longer than cacheMaxAge, and bounded in size', async () => {
    let now = Date.now()
    const accessTokens = introspectedAccessTokens({
      ...options(),
      cacheSize: 2,
      cacheMaxAge: 60,
      now: () => now,
    })
    const nowSeconds = () => Math.floor(now / 1000)
    const shortLived = active({ exp: nowSeconds() + 10 })
    const longLived = active({ exp: nowSeconds() + 3600 })
    const callsFor = (token: string) =>
      introspection.calls.filter((made) => made.token === token).length

    await accessTokens.validate(shortLived)
    await accessTokens.validate(shortLived)
    expect(callsFor(shortLived)).toBe(1)
    now += 11_000 // past exp: introspected again, and now refused as expired
    await expect(accessTokens.validate(shortLived)).rejects.toBeInstanceOf(AccessTokenInvalid)
    expect(callsFor(shortLived)).toBe(2)

    await accessTokens.validate(longLived)
    now += 61_000 // past cacheMaxAge, well before exp
    await accessTokens.validate(longLived)
    expect(callsFor(longLived)).toBe(2)

    const others = [active({ exp: nowSeconds() + 3600 }), active({ exp: nowSeconds() + 3600 })]
    for (const token of others) await accessTokens.validate(token)
    expect(accessTokens.cacheSize).toBeLessThanOrEqual(2)
    await accessTokens.validate(longLived) // evicted by the two newer entries
    expect(callsFor(longLived)).toBe(3)
  })

  it('shares one introspection call between concurrent requests with the same token', async () => {
    const accessTokens = introspectedAccessTokens(options())
    const token = active()
    await Promise.all([
      accessTokens.validate(token),
      accessTokens.validate(token),
      accessTokens.validate(token),
    ])
    expect(introspection.calls.filter((made) => made.token === token)).toHaveLength(1)
  })
})
