/**
 * The resource server in front of an RFC 7662 introspection endpoint (real HTTP on loopback):
 * a token made for another API is refused (`aud`), and junk costs as little as possible: a
 * request whose proof is unsound makes no introspection call at all, and a refused token is
 * remembered for a moment instead of being introspected on every request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  AccessTokenInvalid,
  createResourceServer,
  introspectedAccessTokens,
  type IntrospectionOptions,
} from '@keybound/server'
import { startTestIntrospection, type TestIntrospection } from '@keybound/test-kit/introspection'

const BASE = 'https://api.example.test'
const BILLING = 'https://billing.example/'

let introspection: TestIntrospection
let key: DPoPKeyPair

beforeAll(async () => {
  ;[introspection, key] = await Promise.all([startTestIntrospection(), generateKeyPair('ES256')])
})

afterAll(async () => {
  await introspection?.close()
})

function options(extra: Partial<IntrospectionOptions> = {}): IntrospectionOptions {
  return {
    endpoint: introspection.endpoint,
    clientId: introspection.clientId,
    clientSecret: introspection.clientSecret,
    audience: BASE,
    ...extra,
  }
}

/** `null` leaves `aud` out of the introspection answer. */
function boundToken(aud: unknown = BASE): string {
  return introspection.issue({
    sub: 'alice',
    scope: 'read',
    exp: Math.floor(Date.now() / 1000) + 300,
    token_type: 'DPoP',
    cnf: { jkt: key.jkt },
    ...(aud === null ? {} : { aud }),
  })
}

const callsFor = (token: string): number =>
  introspection.calls.filter((made) => made.token === token).length

async function dpopRequest(token: string, proof?: string) {
  const url = `${BASE}/items`
  return {
    method: 'GET',
    url: '/items',
    headers: {
      authorization: `DPoP ${token}`,
      dpop: proof ?? (await createProof(key, { htm: 'GET', htu: url, accessToken: token })),
    },
  }
}

describe('introspection audience (aud)', () => {
  it('refuses a token minted for another resource with invalid_token', async () => {
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: introspectedAccessTokens(options()),
    })
    for (const aud of [BILLING, [BILLING, 'https://other.example/'], null]) {
      const verdict = await resourceServer.verifyRequest(await dpopRequest(boundToken(aud)))
      expect(verdict).toMatchObject({ ok: false, status: 401, error: 'invalid_token' })
    }
    for (const aud of [BASE, [BILLING, BASE]]) {
      const verdict = await resourceServer.verifyRequest(await dpopRequest(boundToken(aud)))
      expect(verdict).toMatchObject({ ok: true, identity: { subject: 'alice', jkt: key.jkt } })
    }
  })

  it('names the audience claim, and accepts any audience only when told so explicitly', async () => {
    await expect(
      introspectedAccessTokens(options()).validate(boundToken(BILLING)),
    ).rejects.toMatchObject({ claim: 'aud', reason: 'aud mismatch' })
    await expect(
      introspectedAccessTokens(options({ audience: [BILLING] })).validate(boundToken(BILLING)),
    ).resolves.toMatchObject({ subject: 'alice' })
    await expect(
      introspectedAccessTokens(options({ audience: false })).validate(boundToken(BILLING)),
    ).resolves.toMatchObject({ subject: 'alice' })
  })

  it('is required: a missing or empty audience throws at build time', () => {
    const { audience: _ignored, ...withoutAudience } = options()
    for (const audience of [undefined, '', [], [''], [42], true]) {
      expect(() =>
        introspectedAccessTokens({ ...withoutAudience, audience } as IntrospectionOptions),
      ).toThrow(/^audience must be this server's identifier/)
    }
  })
})

describe('what junk costs', () => {
  it('50 junk tokens with an unsound proof make no introspection call', async () => {
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: introspectedAccessTokens(options()),
    })
    const before = introspection.calls.length
    const proofs = [
      'not.a.proof',
      // A proof by the client's key, but for another method: checked before the token.
      await createProof(key, { htm: 'POST', htu: `${BASE}/items`, accessToken: 'junk' }),
    ]
    for (let i = 0; i < 50; i++) {
      const request = await dpopRequest(`junk-${i}`, proofs[i % proofs.length])
      const verdict = await resourceServer.verifyRequest(request)
      expect(verdict).toMatchObject({ ok: false, status: 401, error: 'invalid_dpop_proof' })
    }
    expect(introspection.calls.length - before).toBe(0)
  })

  it('a refused token is introspected once, then answered from memory for negativeCacheMaxAge', async () => {
    let now = Date.now()
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: introspectedAccessTokens(options({ now: () => now })),
    })
    const junk = 'junk-token-with-sound-proofs'
    for (let i = 0; i < 50; i++) {
      const verdict = await resourceServer.verifyRequest(await dpopRequest(junk))
      expect(verdict).toMatchObject({ ok: false, status: 401, error: 'invalid_token' })
    }
    expect(callsFor(junk)).toBe(1)
    now += 10_001 // the default 10 s are over: asked again
    await resourceServer.verifyRequest(await dpopRequest(junk))
    expect(callsFor(junk)).toBe(2)
  })

  it('never remembers an unreachable endpoint, and a refused token does not evict active ones', async () => {
    const accessTokens = introspectedAccessTokens(options({ cacheSize: 2 }))
    const active = boundToken()
    await accessTokens.validate(active)
    for (let i = 0; i < 5; i++)
      await expect(accessTokens.validate(`junk-evict-${i}`)).rejects.toBeInstanceOf(
        AccessTokenInvalid,
      )
    await accessTokens.validate(active)
    expect(callsFor(active)).toBe(1)

    const later = boundToken()
    introspection.failWith(500)
    try {
      await expect(accessTokens.validate(later)).rejects.toMatchObject({
        code: 'ERR_DPOP_ACCESS_TOKEN_UNAVAILABLE',
      })
    } finally {
      introspection.failWith(undefined)
    }
    await expect(accessTokens.validate(later)).resolves.toMatchObject({ subject: 'alice' })
  })

  it('negativeCacheMaxAge: 0 turns it off; beyond 60 s or not a number is refused', async () => {
    const accessTokens = introspectedAccessTokens(options({ negativeCacheMaxAge: 0 }))
    const junk = 'junk-token-no-negative-cache'
    for (let i = 0; i < 3; i++)
      await expect(accessTokens.validate(junk)).rejects.toBeInstanceOf(AccessTokenInvalid)
    expect(callsFor(junk)).toBe(3)
    for (const negativeCacheMaxAge of [61, -1, Number.NaN, '10'])
      expect(() => introspectedAccessTokens(options({ negativeCacheMaxAge } as never))).toThrow(
        /negativeCacheMaxAge/,
      )
  })
})
