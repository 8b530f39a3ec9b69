/**
 * The verification options that change how (not whether) a proof is checked: the signature on
 * the thread pool, a precomputed `ath`, and the exact-match `htu` shortcut. Each must give the
 * same verdict as the plain path, for good proofs and bad ones.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { backends, type CoreModule } from './support/backends.js'
import {
  ACCESS_TOKEN,
  ATH,
  handProof,
  RS_REQUEST,
  RS_URL,
  sha256b64u,
  testKey,
} from './support/jws.js'

const es = testKey('ES256')

type KeyPair = Awaited<ReturnType<CoreModule['generateKeyPair']>>
type ProofRequest = Parameters<CoreModule['verifyProof']>[1]

function flipLastSignatureCharacter(proof: string): string {
  const last = proof.at(-2) === 'A' ? 'B' : 'A'
  return `${proof.slice(0, -2)}${last}${proof.at(-1)}`
}

describe.each(backends)('verify options ($name backend)', ({ core }) => {
  let key: KeyPair
  const verify = (
    proof: string,
    options: Record<string, unknown> = {},
    request: ProofRequest = RS_REQUEST,
  ) => core.verifyProof(proof, request, { replayStore: false, ...options })

  beforeAll(async () => {
    key = await core.generateKeyPair('ES256')
  })

  describe('offloadSignature', () => {
    it.each(['ES256', 'EdDSA', 'PS256'] as const)(
      '%s: accepts a good proof and refuses a tampered signature, as the inline check does',
      async (alg) => {
        const algKey = await core.generateKeyPair(alg)
        const proof = await core.createProof(algKey, { htm: 'GET', htu: RS_URL })
        const offloaded = await verify(proof, { offloadSignature: true })
        const inline = await verify(proof, { offloadSignature: false })
        expect(offloaded.jkt).toBe(algKey.jkt)
        expect(offloaded.claims).toEqual(inline.claims)
        for (const offloadSignature of [true, false]) {
          await expect(
            verify(flipLastSignatureCharacter(proof), { offloadSignature }),
          ).rejects.toMatchObject({ code: 'ERR_DPOP_SIGNATURE_INVALID' })
        }
      },
    )

    it('many concurrent offloaded checks each get their own answer', async () => {
      const proofs = await Promise.all(
        Array.from({ length: 64 }, () => core.createProof(key, { htm: 'GET', htu: RS_URL })),
      )
      const tampered = new Set([3, 17, 40, 63])
      const results = await Promise.allSettled(
        proofs.map((proof, index) =>
          verify(tampered.has(index) ? flipLastSignatureCharacter(proof) : proof, {
            offloadSignature: true,
          }),
        ),
      )
      results.forEach((result, index) =>
        expect(result.status).toBe(tampered.has(index) ? 'rejected' : 'fulfilled'),
      )
    })
  })

  describe('accessTokenHash', () => {
    it('a matching precomputed hash is accepted; the token is still required for ath', async () => {
      const proof = await core.createProof(key, {
        htm: 'GET',
        htu: RS_URL,
        accessToken: ACCESS_TOKEN,
      })
      await expect(
        verify(proof, { accessToken: ACCESS_TOKEN, accessTokenHash: ATH }),
      ).resolves.toBeDefined()
      // Without accessToken there is no ath requirement, whatever the hash says.
      const noAth = await core.createProof(key, { htm: 'GET', htu: RS_URL })
      await expect(verify(noAth, { accessTokenHash: ATH })).resolves.toBeDefined()
    })

    it('the proof must match the hash given: a hash of another token refuses it', async () => {
      const proof = await core.createProof(key, {
        htm: 'GET',
        htu: RS_URL,
        accessToken: ACCESS_TOKEN,
      })
      await expect(
        verify(proof, { accessToken: ACCESS_TOKEN, accessTokenHash: sha256b64u('other') }),
      ).rejects.toMatchObject({ code: 'ERR_DPOP_CLAIM_MISMATCH', claim: 'ath' })
    })

    it('calculateAth gives the value verifyProof expects, and refuses an empty token', async () => {
      expect(await core.calculateAth(ACCESS_TOKEN)).toBe(ATH)
      await expect(core.calculateAth('')).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID_ARGUMENT',
      })
    })
  })

  describe('htu exact match over plain http', () => {
    it.each([
      'http://LOCALHOST:3000/x',
      'http://127.0.0.1/x',
      'http://127.0.0.1:8080/x',
      'http://[::1]/x',
      'http://api.localhost:1/x',
    ])('%s (loopback) is accepted', async (url) => {
      const proof = await core.createProof(key, { htm: 'GET', htu: url })
      await expect(verify(proof, {}, { method: 'GET', url })).resolves.toBeDefined()
    })

    it.each([
      ['http://rs.example/x', 'insecure scheme'],
      ['http://127.0.0.1.nip.io/x', 'insecure scheme'],
      ['http://localhost.example.com:3000/x', 'insecure scheme'],
      ['http://user@127.0.0.1/x', 'invalid'],
    ])('%s is refused (%s) even when it is exactly the request URL', async (url, reason) => {
      const proof = handProof(es, Math.floor(Date.now() / 1000), { htu: url })
      await expect(verify(proof, {}, { method: 'GET', url })).rejects.toMatchObject({
        claim: 'htu',
        reason,
      })
    })
  })
})
