import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'
import { fromB64u, publicMembers, signEncoded, vectors } from './support/jws.js'

const { rfc9449, rfc7638, rfc8037, rfc7515 } = vectors
const V1 = rfc9449.tokenRequestProof
const V2 = rfc9449.refreshRequestProof
const V3 = rfc9449.resourceRequestProof
const TOKEN_ENDPOINT = { method: 'POST', url: 'https://server.example.com/token' }
const RESOURCE = { method: 'GET', url: 'https://resource.example.org/protectedresource' }
// The RFC's examples date from 2019 (V1–V3): pin the clock a few seconds after their iat.
const PINNED_MS = 1562262620_000
const PINNED_V2_MS = (V2.iat + 4) * 1000
// Fig. 25 dpop_jkt: the RFC 7638 RSA example's thumbprint, not the EC key of V1-V3.
const FIG25_DPOP_JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'

describe.each(backends)('RFC 9449 test vectors ($name backend)', ({ core }) => {
  const pinned = (ms: number) => ({ replayStore: false as const, now: () => ms })

  it('V1 (Fig. 2 token request proof) verifies with a pinned clock', async () => {
    const result = await core.verifyProof(V1.jwt, TOKEN_ENDPOINT, pinned(PINNED_MS))
    expect(result.jkt).toBe(rfc9449.jkt)
    expect(result.claims).toEqual({ jti: V1.jti, htm: V1.htm, htu: V1.htu, iat: V1.iat })
    expect(result.header).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: rfc9449.publicJwk })
    expect(result.rotateNonce).toBe(false)
  })

  it('V2 (Fig. 7 refresh request proof) verifies with a clock pinned near its own iat', async () => {
    const result = await core.verifyProof(V2.jwt, TOKEN_ENDPOINT, pinned(PINNED_V2_MS))
    expect(result.jkt).toBe(rfc9449.jkt)
    expect(result.claims.iat).toBe(1562265296)
    expect(result.claims.jti).toBe(V1.jti)
  })

  it('V3 (Fig. 13 resource request proof) verifies at the RS with its access token and cnf.jkt', async () => {
    const result = await core.verifyProof(V3.jwt, RESOURCE, {
      ...pinned(PINNED_MS),
      accessToken: V3.accessToken,
      expectedJkt: rfc9449.jkt,
    })
    expect(result.claims.ath).toBe(V3.ath)
    expect(result.jkt).toBe(rfc9449.jkt)
  })

  it.each([
    ['V1', V1.jwt, TOKEN_ENDPOINT, {}],
    ['V2', V2.jwt, TOKEN_ENDPOINT, {}],
    ['V3', V3.jwt, RESOURCE, { accessToken: V3.accessToken }],
  ] as const)('%s is rejected as stale with the real clock', async (_name, jwt, request, extra) => {
    await expect(
      core.verifyProof(jwt, request, { replayStore: false, ...extra }),
    ).rejects.toMatchObject({
      code: 'ERR_DPOP_IAT_OUT_OF_WINDOW',
      claim: 'iat',
      reason: 'stale',
    })
  })

  it('V1 and V2 share a jti 2,680 s apart: a store whose TTL covers only the window accepts both', async () => {
    let storeNow = PINNED_MS
    const replayStore = new core.MemoryReplayStore({ now: () => storeNow })
    await expect(
      core.verifyProof(V1.jwt, TOKEN_ENDPOINT, { replayStore, now: () => PINNED_MS }),
    ).resolves.toBeDefined()
    // The store is really in use: the same proof again, at the same time, is a replay.
    await expect(
      core.verifyProof(V1.jwt, TOKEN_ENDPOINT, { replayStore, now: () => PINNED_MS }),
    ).rejects.toMatchObject({
      code: 'ERR_DPOP_REPLAYED',
      claim: 'jti',
    })
    storeNow = PINNED_V2_MS
    const v2 = await core.verifyProof(V2.jwt, TOKEN_ENDPOINT, {
      replayStore,
      now: () => PINNED_V2_MS,
    })
    expect(v2.claims.jti).toBe(V1.jti)
  })

  it('V3 with the wrong access token fails the ath check', async () => {
    await expect(
      core.verifyProof(V3.jwt, RESOURCE, {
        ...pinned(PINNED_MS),
        accessToken: `${V3.accessToken}x`,
      }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_CLAIM_MISMATCH', claim: 'ath' })
  })

  it('RS3: the Fig. 2 proof (no ath) is rejected at a resource server that received a token', async () => {
    // At the resource itself it fails (htm/htu are the token endpoint's) ...
    await expect(
      core.verifyProof(V1.jwt, RESOURCE, { ...pinned(PINNED_MS), accessToken: V3.accessToken }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_DPOP_CLAIM_(MISMATCH|INVALID)$/) })
    // ... and even where htm/htu fit, a token without ath is refused.
    await expect(
      core.verifyProof(V1.jwt, TOKEN_ENDPOINT, {
        ...pinned(PINNED_MS),
        accessToken: V3.accessToken,
      }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_CLAIM_INVALID', claim: 'ath', reason: 'missing' })
  })

  it('Fig. 25 dpop_jkt (the RSA example thumbprint) does not match the key of V1 (AS13, negative)', async () => {
    expect(await core.calculateJwkThumbprint(rfc7638.jwk)).toBe(FIG25_DPOP_JKT)
    expect(FIG25_DPOP_JKT).not.toBe(rfc9449.jkt)
    await expect(
      core.verifyProof(V1.jwt, TOKEN_ENDPOINT, {
        ...pinned(PINNED_MS),
        expectedJkt: FIG25_DPOP_JKT,
      }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_KEY_BINDING_MISMATCH' })
  })

  it('V5 (Fig. 8 JWT access token) cnf.jkt is the thumbprint of the proof key', async () => {
    const payload = JSON.parse(
      fromB64u(rfc9449.jwtAccessTokenDecodeOnly.split('.')[1]!).toString('utf8'),
    )
    expect(payload.cnf.jkt).toBe(await core.calculateJwkThumbprint(rfc9449.publicJwk))
  })

  it('the RFC 8037 A.4 JWS (no typ, not a proof) is refused by the typ check', async () => {
    await expect(core.verifyProof(rfc8037.jws, RESOURCE, pinned(PINNED_MS))).rejects.toMatchObject({
      code: 'ERR_DPOP_HEADER_INVALID',
      claim: 'typ',
    })
  })

  it('any change to a vector is refused: V1 with its payload re-encoded (iat moved) fails the signature', async () => {
    const [header, , signature] = V1.jwt.split('.')
    const payload = Buffer.from(
      JSON.stringify({ jti: V1.jti, htm: V1.htm, htu: V1.htu, iat: V1.iat + 1 }),
    ).toString('base64url')
    await expect(
      core.verifyProof(`${header}.${payload}.${signature}`, TOKEN_ENDPOINT, pinned(PINNED_MS)),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_SIGNATURE_INVALID' })
  })

  describe('thumbprints (RFC 7638) and ath', () => {
    it('RFC 9449 example key → 0ZcOCORZ…, canonical input as in RFC 7638 §3', async () => {
      expect(await core.calculateJwkThumbprint(rfc9449.publicJwk)).toBe(
        '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I',
      )
      expect(core.canonicalThumbprintInput(rfc9449.publicJwk)).toBe(
        '{"crv":"P-256","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}',
      )
    })

    it('RFC 7638 §3.1 RSA key, with and without alg/kid (and with use) → NzbLsXh8…', async () => {
      const { alg: _alg, kid: _kid, ...bare } = rfc7638.jwk
      expect(await core.calculateJwkThumbprint(rfc7638.jwk)).toBe(rfc7638.thumbprint)
      expect(await core.calculateJwkThumbprint(bare)).toBe(rfc7638.thumbprint)
      expect(await core.calculateJwkThumbprint({ ...bare, use: 'sig', key_ops: ['verify'] })).toBe(
        rfc7638.thumbprint,
      )
      expect(core.canonicalThumbprintInput(rfc7638.jwk)).toBe(
        `{"e":"AQAB","kty":"RSA","n":"${rfc7638.jwk.n}"}`,
      )
    })

    it('RFC 8037 Ed25519: private and public JWK give the same thumbprint kPrK_qmx…', async () => {
      const { d: _d, ...publicJwk } = rfc8037.privateJwk
      expect(await core.calculateJwkThumbprint(rfc8037.privateJwk)).toBe(rfc8037.thumbprint)
      expect(await core.calculateJwkThumbprint(publicJwk)).toBe(rfc8037.thumbprint)
    })

    it('RFC 7515 A.3 P-256 key → oKIywvGU… (private and public, and after importKeyPair)', async () => {
      expect(await core.calculateJwkThumbprint(rfc7515.p256PrivateJwk)).toBe(rfc7515.thumbprint)
      expect(await core.calculateJwkThumbprint(publicMembers(rfc7515.p256PrivateJwk))).toBe(
        rfc7515.thumbprint,
      )
      const pair = await core.importKeyPair(rfc7515.p256PrivateJwk as never)
      expect(pair.jkt).toBe(rfc7515.thumbprint)
      expect(pair.alg).toBe('ES256')
    })

    it('V4: ath of the example access token → fUHyO2r2…', async () => {
      expect(await core.calculateAth(V3.accessToken)).toBe(
        'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
      )
    })

    it('the RFC 7638 RSA modulus is exactly 2048 bits and passes the key-size check (signature is what fails)', async () => {
      // Header jwk is the RFC RSA key (private key unknown): signed by another key, so if the
      // jwk checks accepted it, the failure must come from the signature, not from the key size.
      expect(fromB64u(rfc7638.jwk.n!).length * 8).toBe(2048)
      const header = Buffer.from(
        JSON.stringify({ typ: 'dpop+jwt', alg: 'RS256', jwk: publicMembers(rfc7638.jwk) }),
      ).toString('base64url')
      const payload = Buffer.from(
        JSON.stringify({ jti: 'x', htm: 'GET', htu: RESOURCE.url, iat: 1562262618 }),
      ).toString('base64url')
      // A 256-byte value: the right length for a 2048-bit key, but not a signature.
      const forged = signEncoded(header, payload, () => Buffer.alloc(256, 1))
      await expect(core.verifyProof(forged, RESOURCE, pinned(PINNED_MS))).rejects.toMatchObject({
        code: 'ERR_DPOP_SIGNATURE_INVALID',
      })
    })
  })
})
