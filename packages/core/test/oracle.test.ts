/**
 * Independent oracles (D17 in docs/requirements.md): our proofs verify under jose, jose's
 * thumbprints equal ours, and proofs made by jose's SignJWT and by the `dpop` package verify under Keybound.
 */
import * as dpop from 'dpop'
import {
  calculateJwkThumbprint as joseThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  exportJWK,
  generateKeyPair as joseGenerateKeyPair,
  jwtVerify,
  SignJWT,
} from 'jose'
import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'
import { ACCESS_TOKEN, ALL_ALGS, ATH, RS_REQUEST, RS_URL, testKey, vectors } from './support/jws.js'

describe.each(backends)('oracle: jose and dpop ($name backend)', ({ core }) => {
  describe('our proofs verify under jose (jwtVerify + EmbeddedJWK, typ dpop+jwt)', () => {
    it.each(ALL_ALGS)('%s', async (alg) => {
      const key = await core.generateKeyPair(alg)
      for (const extra of [{}, { accessToken: ACCESS_TOKEN, nonce: 'server-nonce-1' }]) {
        const proof = await core.createProof(key, { htm: 'POST', htu: `${RS_URL}?q=1`, ...extra })
        const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
          typ: 'dpop+jwt',
          algorithms: [alg],
          maxTokenAge: 60,
        })
        expect(protectedHeader).toEqual({ typ: 'dpop+jwt', alg, jwk: key.publicJwk })
        expect(payload).toMatchObject({
          htm: 'POST',
          htu: RS_URL,
          jti: expect.any(String),
          iat: expect.any(Number),
        })
        if ('accessToken' in extra)
          expect(payload).toMatchObject({ ath: ATH, nonce: 'server-nonce-1' })
        expect(await joseThumbprint(protectedHeader.jwk!)).toBe(key.jkt)
        // and of course by ourselves, with the same thumbprint
        const ours = await core.verifyProof(
          proof,
          { method: 'POST', url: RS_URL },
          { replayStore: false, ...('accessToken' in extra ? { accessToken: ACCESS_TOKEN } : {}) },
        )
        expect(ours.jkt).toBe(key.jkt)
      }
    })
  })

  it('jose calculateJwkThumbprint equals ours (RFC example keys and fresh keys of every type)', async () => {
    const jwks = [
      vectors.rfc9449.publicJwk,
      vectors.rfc7638.jwk,
      vectors.rfc8037.privateJwk,
      vectors.rfc7515.p256PrivateJwk,
      testKey('ES384').publicJwk,
      testKey('ES512').publicJwk,
      testKey('EdDSA').publicJwk,
      testKey('RS256').publicJwk,
    ]
    for (const jwk of jwks) {
      expect(await core.calculateJwkThumbprint(jwk)).toBe(await joseThumbprint(jwk as never))
    }
  })

  describe('proofs made by jose SignJWT verify under ours', () => {
    it.each(['ES256', 'ES384', 'ES512', 'PS256', 'RS512', 'EdDSA'] as const)(
      '%s, with and without access token / nonce',
      async (alg) => {
        const { privateKey, publicKey } = await joseGenerateKeyPair(alg)
        const jwk = await exportJWK(publicKey)
        const nonces = core.createNonceSource({ secret: 'oracle-nonce-secret-0123456789abcdef' })
        const nonce = await nonces.issueNonce()
        const replayStore = new core.MemoryReplayStore()
        for (const withToken of [false, true]) {
          const claims: Record<string, unknown> = { htm: 'GET', htu: RS_URL }
          if (withToken) Object.assign(claims, { ath: ATH, nonce })
          const proof = await new SignJWT(claims)
            .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk })
            .setIssuedAt()
            .setJti(crypto.randomUUID())
            .sign(privateKey)
          const options = withToken
            ? {
                replayStore,
                accessToken: ACCESS_TOKEN,
                nonce: nonces,
                expectedJkt: await joseThumbprint(jwk),
              }
            : { replayStore }
          const result = await core.verifyProof(proof, RS_REQUEST, options)
          expect(result.jkt).toBe(await joseThumbprint(jwk))
          expect(result.header.alg).toBe(alg)
          // replay of the jose proof is caught like any other
          await expect(core.verifyProof(proof, RS_REQUEST, options)).rejects.toMatchObject({
            code: 'ERR_DPOP_REPLAYED',
          })
        }
      },
    )

    it('a jose proof with a different htu, or signed for another token, is refused', async () => {
      const { privateKey, publicKey } = await joseGenerateKeyPair('ES256')
      const jwk = await exportJWK(publicKey)
      const sign = (claims: Record<string, unknown>) =>
        new SignJWT(claims)
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
          .setIssuedAt()
          .setJti(crypto.randomUUID())
          .sign(privateKey)
      await expect(
        core.verifyProof(await sign({ htm: 'GET', htu: 'https://other.example/' }), RS_REQUEST, {
          replayStore: false,
        }),
      ).rejects.toMatchObject({
        code: 'ERR_DPOP_CLAIM_MISMATCH',
        claim: 'htu',
      })
      await expect(
        core.verifyProof(await sign({ htm: 'GET', htu: RS_URL, ath: ATH }), RS_REQUEST, {
          replayStore: false,
          accessToken: 'other',
        }),
      ).rejects.toMatchObject({ code: 'ERR_DPOP_CLAIM_MISMATCH', claim: 'ath' })
    })
  })

  describe('proofs made by the dpop package (generateProof) verify under ours', () => {
    it.each(['ES256', 'PS256', 'RS256'] as const)(
      '%s, with and without access token / nonce',
      async (alg) => {
        const keyPair = await dpop.generateKeyPair(alg)
        const thumbprint = await dpop.calculateThumbprint(keyPair.publicKey)
        const nonces = core.createNonceSource({
          secret: 'oracle-nonce-secret-0123456789abcdef',
          purpose: 'as',
        })
        const nonce = await nonces.issueNonce()
        const replayStore = new core.MemoryReplayStore()

        const plain = await dpop.generateProof(keyPair, 'https://server.example.com/token', 'POST')
        const plainResult = await core.verifyProof(
          plain,
          { method: 'POST', url: 'https://server.example.com/token' },
          { replayStore },
        )
        expect(plainResult.jkt).toBe(thumbprint)

        const bound = await dpop.generateProof(keyPair, RS_URL, 'GET', nonce, ACCESS_TOKEN)
        const boundResult = await core.verifyProof(bound, RS_REQUEST, {
          replayStore,
          accessToken: ACCESS_TOKEN,
          expectedJkt: thumbprint,
          nonce: nonces,
        })
        expect(boundResult.claims).toMatchObject({ ath: ATH, nonce })

        // our thumbprint of the dpop package's key equals the package's own
        expect(await core.calculateJwkThumbprint(decodeProtectedHeader(bound).jwk as never)).toBe(
          thumbprint,
        )
      },
    )

    it('a dpop proof is refused when its nonce is not this server purpose, or the token differs', async () => {
      const keyPair = await dpop.generateKeyPair('ES256')
      const asNonce = await core
        .createNonceSource({ secret: 'oracle-nonce-secret-0123456789abcdef', purpose: 'as' })
        .issueNonce()
      const rsNonces = core.createNonceSource({
        secret: 'oracle-nonce-secret-0123456789abcdef',
        purpose: 'rs',
      })
      const proof = await dpop.generateProof(keyPair, RS_URL, 'GET', asNonce, ACCESS_TOKEN)
      await expect(
        core.verifyProof(proof, RS_REQUEST, {
          replayStore: false,
          accessToken: ACCESS_TOKEN,
          nonce: rsNonces,
        }),
      ).rejects.toMatchObject({
        code: 'ERR_DPOP_NONCE_REQUIRED',
      })
      await expect(
        core.verifyProof(proof, RS_REQUEST, {
          replayStore: false,
          accessToken: `${ACCESS_TOKEN}.`,
        }),
      ).rejects.toMatchObject({
        code: 'ERR_DPOP_CLAIM_MISMATCH',
        claim: 'ath',
      })
    })

    it('accepts the dpop package\'s Ed25519 proofs, signed with the fully-specified alg "Ed25519" (RFC 9864)', async () => {
      const keyPair = await dpop.generateKeyPair('Ed25519')
      const proof = await dpop.generateProof(keyPair, RS_URL, 'GET')
      expect(decodeProtectedHeader(proof).alg).toBe('Ed25519')
      const verified = await core.verifyProof(proof, RS_REQUEST, { replayStore: false })
      expect(verified.header.alg).toBe('Ed25519')
      await expect(
        core.verifyProof(proof, RS_REQUEST, { replayStore: false, algorithms: ['EdDSA'] }),
      ).rejects.toMatchObject({ code: 'ERR_DPOP_HEADER_INVALID', claim: 'alg' })
    })
  })
})
