import { beforeAll, describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'
import { ALL_ALGS, RS_REQUEST, RS_URL, signRaw, testKey, vectors } from './support/jws.js'

const PUBLIC_MEMBERS = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
} as const
const KTY = (alg: string) => (alg.startsWith('ES') ? 'EC' : alg === 'EdDSA' ? 'OKP' : 'RSA')

describe.each(backends)('keys ($name backend)', ({ core }) => {
  describe.each(ALL_ALGS)('%s', (alg) => {
    let pair: Awaited<ReturnType<typeof core.generateKeyPair>>
    beforeAll(async () => {
      pair = await core.generateKeyPair(alg)
    })

    it('generates a pair with a public JWK of only the public members and its RFC 7638 jkt', async () => {
      expect(pair.alg).toBe(alg)
      expect(Object.keys(pair.publicJwk).sort()).toEqual([...PUBLIC_MEMBERS[KTY(alg)]])
      expect(pair.jkt).toBe(await core.calculateJwkThumbprint(pair.publicJwk))
      expect(Object.isFrozen(pair)).toBe(true)
      expect(Object.isFrozen(pair.publicJwk)).toBe(true)
      expect(pair.privateKey.type).toBe('private')
      expect(pair.publicKey.type).toBe('public')
      const proof = await core.createProof(pair, { htm: 'GET', htu: RS_URL })
      await expect(
        core.verifyProof(proof, RS_REQUEST, { replayStore: false }),
      ).resolves.toMatchObject({ jkt: pair.jkt })
    })

    it('is non-extractable by default: exportKeyPair throws ERR_DPOP_KEY_UNSUPPORTED and subtle.exportKey throws', async () => {
      expect(pair.privateKey.extractable).toBe(false)
      await expect(core.exportKeyPair(pair)).rejects.toMatchObject({
        code: 'ERR_DPOP_KEY_UNSUPPORTED',
        reason: 'not extractable',
      })
      await expect(crypto.subtle.exportKey('jwk', pair.privateKey)).rejects.toThrow()
      await expect(crypto.subtle.exportKey('pkcs8', pair.privateKey)).rejects.toThrow()
    })

    it('extractable pair: exportKeyPair → importKeyPair round trip keeps the key (same jkt, proofs verify)', async () => {
      const extractable = await core.generateKeyPair(alg, { extractable: true })
      const jwk = await core.exportKeyPair(extractable)
      expect(jwk).toMatchObject({ alg, kty: KTY(alg), d: expect.any(String) })
      expect(jwk).not.toHaveProperty('key_ops')
      expect(jwk).not.toHaveProperty('ext')
      const imported = await core.importKeyPair(jwk)
      expect(imported.alg).toBe(alg)
      expect(imported.jkt).toBe(extractable.jkt)
      expect(imported.publicJwk).toEqual(extractable.publicJwk)
      // imported keys are non-extractable unless asked
      expect(imported.privateKey.extractable).toBe(false)
      await expect(core.exportKeyPair(imported)).rejects.toMatchObject({
        code: 'ERR_DPOP_KEY_UNSUPPORTED',
      })
      const reimported = await core.importKeyPair(jwk, { extractable: true })
      expect(await core.exportKeyPair(reimported)).toEqual(jwk)
      // a proof by the imported key verifies and is bound to the original jkt
      const proof = await core.createProof(imported, { htm: 'GET', htu: RS_URL })
      await expect(
        core.verifyProof(proof, RS_REQUEST, { replayStore: false, expectedJkt: extractable.jkt }),
      ).resolves.toBeDefined()
    })
  })

  it('importKeyPair of the RFC 7515 A.3 and RFC 8037 keys gives the RFC thumbprints and working keys', async () => {
    const p256 = await core.importKeyPair(vectors.rfc7515.p256PrivateJwk as never)
    expect(p256.jkt).toBe(vectors.rfc7515.thumbprint)
    const ed = await core.importKeyPair(vectors.rfc8037.privateJwk as never)
    expect(ed.alg).toBe('EdDSA')
    expect(ed.jkt).toBe(vectors.rfc8037.thumbprint)
    for (const pair of [p256, ed]) {
      const proof = await core.createProof(pair, { htm: 'GET', htu: RS_URL })
      await expect(
        core.verifyProof(proof, RS_REQUEST, { replayStore: false, expectedJkt: pair.jkt }),
      ).resolves.toBeDefined()
    }
  })

  it('importKeyPair picks the alg from the option, then the JWK, then the key type', async () => {
    const rsa = testKey('RS256').privateJwk
    expect((await core.importKeyPair(rsa as never)).alg).toBe('PS256')
    expect((await core.importKeyPair({ ...rsa, alg: 'RS384' } as never)).alg).toBe('RS384')
    expect(
      (await core.importKeyPair({ ...rsa, alg: 'RS384' } as never, { alg: 'PS512' })).alg,
    ).toBe('PS512')
    expect((await core.importKeyPair(testKey('ES384').privateJwk as never)).alg).toBe('ES384')
    expect((await core.importKeyPair(testKey('ES512').privateJwk as never)).alg).toBe('ES512')
  })

  it('importKeyPair refuses public JWKs, unsupported algorithms, oct keys and keys that do not fit the alg', async () => {
    await expect(core.importKeyPair(testKey('ES256').publicJwk as never)).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
    await expect(core.importKeyPair(null as never)).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
    await expect(
      core.importKeyPair({ ...testKey('ES256').privateJwk, alg: 'HS256' } as never),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_KEY_UNSUPPORTED' })
    await expect(
      core.importKeyPair({ kty: 'oct', k: 'AAAA', d: 'x' } as never, { alg: 'ES256' }),
    ).rejects.toBeInstanceOf(core.DPoPError)
    await expect(
      core.importKeyPair(testKey('ES256').privateJwk as never, { alg: 'ES384' }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_KEY_UNSUPPORTED', claim: 'jwk' })
    await expect(
      core.importKeyPair(testKey('RS256', 1024).privateJwk as never),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_KEY_UNSUPPORTED', claim: 'jwk' })
    // a private d that does not belong to x/y
    const a = testKey('ES256').privateJwk
    const b = testKey('ES256').privateJwk
    await expect(core.importKeyPair({ ...a, d: b.d } as never)).rejects.toBeInstanceOf(
      core.DPoPError,
    )
  })

  it('signs with a non-extractable CryptoKey that core did not make (a key from elsewhere)', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const params = alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'Ed25519' }
      const pair = (await crypto.subtle.generateKey(params, false, [
        'sign',
        'verify',
      ])) as CryptoKeyPair
      const publicJwk = core.toPublicJwk(
        (await crypto.subtle.exportKey('jwk', pair.publicKey)) as never,
      )
      const key = {
        alg,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        publicJwk,
        jkt: await core.calculateJwkThumbprint(publicJwk),
      }
      const proof = await core.createProof(key, { htm: 'GET', htu: 'https://rs.example/x' })
      const verified = await core.verifyProof(
        proof,
        { method: 'GET', url: 'https://rs.example/x' },
        { replayStore: false },
      )
      expect(verified.jkt).toBe(key.jkt)
    }
  })

  it('generateKeyPair refuses unsupported algorithms and RSA sizes outside 2048..8192', async () => {
    for (const alg of ['HS256', 'none', 'ES256K', 'Ed448']) {
      await expect(core.generateKeyPair(alg as never)).rejects.toMatchObject({
        code: 'ERR_DPOP_KEY_UNSUPPORTED',
      })
    }
    await expect(core.generateKeyPair('RS256', { modulusLength: 1024 })).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
    await expect(core.generateKeyPair('PS256', { modulusLength: 2047 })).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
    await expect(core.generateKeyPair('PS256', { modulusLength: 16384 })).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
    expect((await core.generateKeyPair()).alg).toBe('ES256')
  })

  it('toPublicJwk strips private and extra members', () => {
    const extra = { kid: 'k1', alg: 'X', use: 'sig', key_ops: ['sign'], ext: true, x5c: ['MII'] }
    const rsa = testKey('RS256').privateJwk
    expect(core.toPublicJwk({ ...rsa, ...extra } as never)).toEqual({
      kty: 'RSA',
      n: rsa.n,
      e: rsa.e,
    })
    const ec = testKey('ES256').privateJwk
    expect(core.toPublicJwk({ ...ec, ...extra } as never)).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: ec.x,
      y: ec.y,
    })
    expect(core.toPublicJwk({ ...vectors.rfc8037.privateJwk, ...extra } as never)).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: vectors.rfc8037.privateJwk.x,
    })
    expect(() => core.toPublicJwk({ kty: 'oct', k: 'AAAA' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_KEY_UNSUPPORTED' }),
    )
    expect(() => core.toPublicJwk({ kty: 'EC', crv: 'P-256', x: ec.x } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT', claim: 'y' }),
    )
  })

  it('createProof with a ProofSigner (key kept elsewhere) produces a proof that verifies; a bad signer fails', async () => {
    const es = testKey('ES256')
    const signer = {
      alg: 'ES256' as const,
      publicJwk: { ...es.publicJwk, kid: 'hsm-1', d: 'never-sent' },
      sign: (data: Uint8Array) => signRaw('ES256', es.privateKey, data),
    }
    const proof = await core.createProof(signer, { htm: 'GET', htu: RS_URL })
    const result = await core.verifyProof(proof, RS_REQUEST, { replayStore: false })
    // toPublicJwk keeps the private member and the kid out of the header
    expect(result.header.jwk).toEqual(es.publicJwk)
    const failing = { ...signer, sign: () => Promise.reject(new Error('hsm offline')) }
    await expect(core.createProof(failing, { htm: 'GET', htu: RS_URL })).rejects.toMatchObject({
      code: 'ERR_DPOP_KEY_UNSUPPORTED',
    })
    await expect(
      core.createProof({ ...signer, alg: 'HS256' as never }, { htm: 'GET', htu: RS_URL }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_KEY_UNSUPPORTED' })
    await expect(
      core.createProof({ alg: 'ES256', publicJwk: es.publicJwk } as never, {
        htm: 'GET',
        htu: RS_URL,
      }),
    ).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
  })
})
