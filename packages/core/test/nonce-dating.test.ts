/**
 * What a valid stateless nonce vouches for (RFC 9449 §4.3 item 11) and what it does not: the
 * nonce dates the proof, but `iat` must still be a time the client could have written, and
 * `requireIat` asks for the usual window as well. Also the order of the binding check: the
 * access token's binding is asked for only after every check that does not need it.
 */
import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'
import { ACCESS_TOKEN, handProof, RS_REQUEST, sha256b64u, testKey } from './support/jws.js'

const T0 = 1_780_000_020_000
const SECRET = 'nonce-dating-test-secret-0123456789abcdef'
const es = testKey('ES256')
const other = testKey('ES256')

describe.each(backends)('nonce dating and binding order ($name backend)', ({ core }) => {
  const nonces = core.createNonceSource({ secret: SECRET, now: () => T0, stepSeconds: 60 })
  const verifyWithNonce = (iat: number, nonce: string, extra: Record<string, unknown> = {}) =>
    core.verifyProof(handProof(es, iat, { nonce }), RS_REQUEST, {
      replayStore: new core.MemoryReplayStore({ now: () => T0 }),
      now: () => T0,
      nonce: nonces,
      ...extra,
    })

  it('with a valid nonce, a negative, zero, absurd or far-off iat is refused as implausible', async () => {
    const nonce = await nonces.issueNonce()
    const nowSeconds = T0 / 1000
    for (const iat of [-1e300, -1, 0, 1e300, nowSeconds + 86_401, nowSeconds - 86_401 - 120]) {
      await expect(verifyWithNonce(iat, nonce)).rejects.toMatchObject({
        code: 'ERR_DPOP_IAT_OUT_OF_WINDOW',
        claim: 'iat',
        reason: 'implausible',
      })
    }
  })

  it('with a valid nonce, a clock off by hours is still accepted (the nonce dates the proof)', async () => {
    const nonce = await nonces.issueNonce()
    for (const offset of [-14 * 3600, -600, 0, 600, 14 * 3600]) {
      await expect(verifyWithNonce(T0 / 1000 + offset, nonce)).resolves.toBeDefined()
    }
  })

  it('maxClockSkew narrows what counts as plausible', async () => {
    const nonce = await nonces.issueNonce()
    await expect(
      verifyWithNonce(T0 / 1000 + 301, nonce, { maxClockSkew: 300 }),
    ).rejects.toMatchObject({ reason: 'implausible' })
    await expect(
      verifyWithNonce(T0 / 1000 + 299, nonce, { maxClockSkew: 300 }),
    ).resolves.toBeDefined()
    await expect(
      verifyWithNonce(T0 / 1000, nonce, { maxClockSkew: Number.NaN }),
    ).rejects.toMatchObject({ reason: 'implausible' })
  })

  it('requireIat checks the usual window even with a valid nonce', async () => {
    const nonce = await nonces.issueNonce()
    await expect(
      verifyWithNonce(T0 / 1000 - 600, nonce, { requireIat: true }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_IAT_OUT_OF_WINDOW', reason: 'stale' })
    await expect(
      verifyWithNonce(T0 / 1000 + 30, nonce, { requireIat: true }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_IAT_OUT_OF_WINDOW', reason: 'future' })
    await expect(verifyWithNonce(T0 / 1000 - 5, nonce, { requireIat: true })).resolves.toBeDefined()
    // Off by default: the nonce vouches for the stale iat.
    await expect(verifyWithNonce(T0 / 1000 - 600, nonce)).resolves.toBeDefined()
  })

  it('resolveExpectedJkt is asked only for a sound proof, before the replay record', async () => {
    const esJkt = await core.calculateJwkThumbprint(es.publicJwk)
    const otherJkt = await core.calculateJwkThumbprint(other.publicJwk)
    const asked: string[] = []
    const store = new core.MemoryReplayStore({ now: () => T0 })
    const options = (answer: unknown) => ({
      replayStore: store,
      now: () => T0,
      accessToken: ACCESS_TOKEN,
      resolveExpectedJkt: () => (asked.push('asked'), answer as string),
    })
    const ath = sha256b64u(ACCESS_TOKEN)
    const sound = (key = es) => handProof(key, T0 / 1000, { ath })
    // Unsound proofs: not a JWS, bad signature, wrong htm, wrong ath, stale iat.
    const unsound = [
      'not.a.proof',
      `${sound().slice(0, -4)}AAAA`,
      handProof(es, T0 / 1000, { ath, htm: 'POST' }),
      handProof(es, T0 / 1000, { ath: sha256b64u('another token') }),
      handProof(es, T0 / 1000 - 3600, { ath }),
    ]
    for (const proof of unsound)
      await expect(core.verifyProof(proof, RS_REQUEST, options(esJkt))).rejects.toBeDefined()
    expect(asked).toHaveLength(0)
    expect(store.size).toBe(0)

    await expect(core.verifyProof(sound(), RS_REQUEST, options(esJkt))).resolves.toMatchObject({
      jkt: esJkt,
    })
    const mismatch = sound(other)
    await expect(core.verifyProof(mismatch, RS_REQUEST, options(esJkt))).rejects.toMatchObject({
      code: 'ERR_DPOP_KEY_BINDING_MISMATCH',
      reason: 'jkt mismatch',
    })
    await expect(core.verifyProof(sound(), RS_REQUEST, options(undefined))).rejects.toMatchObject({
      code: 'ERR_DPOP_KEY_BINDING_MISMATCH',
      reason: 'no bound key',
    })
    expect(asked).toHaveLength(3)
    // Only the accepted proof used up its jti: the refused ones can still be checked again.
    expect(store.size).toBe(1)
    await expect(core.verifyProof(mismatch, RS_REQUEST, options(otherJkt))).resolves.toBeDefined()
  })
})
