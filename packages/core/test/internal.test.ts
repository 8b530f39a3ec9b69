/**
 * `@keybound/core/internal`, the subpath Keybound's packages share rules through: it must serve
 * core's own table, defaults and URL helpers (never copies), its defaults must be the window
 * `verifyProof` applies, and its time-claim checks must fail closed.
 */
import * as core from '@keybound/core'
import * as internal from '@keybound/core/internal'
import { describe, expect, it } from 'vitest'

const URL_ = 'https://rs.example.test/items'

async function verdictAt(iatOffset: number): Promise<'accepted' | string> {
  const key = await core.generateKeyPair('ES256')
  const nowSeconds = 1_900_000_000
  const proof = await core.createProof(key, {
    htm: 'GET',
    htu: URL_,
    iat: nowSeconds + iatOffset,
  })
  try {
    await core.verifyProof(
      proof,
      { method: 'GET', url: URL_ },
      { replayStore: false, now: () => nowSeconds * 1000 },
    )
    return 'accepted'
  } catch (error) {
    return (error as core.DPoPError).reason ?? 'refused'
  }
}

describe('@keybound/core/internal', () => {
  it('serves the same algorithm table and URL helpers as the main entry (D49)', () => {
    expect(internal.SUPPORTED_ALGORITHMS).toBe(core.SUPPORTED_ALGORITHMS)
    expect(internal.findAlgorithm).toBe(core.findAlgorithm)
    expect(internal.webCryptoSignParams).toBe(core.webCryptoSignParams)
    expect(internal.stripQueryAndFragment).toBe(core.stripQueryAndFragment)
    expect(internal.normalizeHtu).toBe(core.normalizeHtu)
    expect(internal.isLoopbackHost).toBe(core.isLoopbackHost)
  })

  it('names the iat window verifyProof applies by default (D49)', async () => {
    const { DEFAULT_MAX_AGE: maxAge, DEFAULT_CLOCK_TOLERANCE: tolerance } = internal
    expect(await verdictAt(-maxAge)).toBe('accepted')
    expect(await verdictAt(-maxAge - 1)).toBe('stale')
    expect(await verdictAt(tolerance)).toBe('accepted')
    expect(await verdictAt(tolerance + 1)).toBe('future')
  })

  it('time claims honour the tolerance at its edge and refuse what is not a number (D49)', () => {
    const now = 1_900_000_000
    expect(internal.issuedAtProblem(now - 60, now, 60, 10)).toBeUndefined()
    expect(internal.issuedAtProblem(now - 61, now, 60, 10)).toBe('stale')
    expect(internal.issuedAtProblem(now + 11, now, 60, 10)).toBe('future')
    expect(internal.isNotBeforeReached(now + 10, now, 10)).toBe(true)
    expect(internal.isNotBeforeReached(now + 11, now, 10)).toBe(false)
    expect(internal.isBeforeExpiry(now - 9, now, 10)).toBe(true)
    expect(internal.isBeforeExpiry(now - 10, now, 10)).toBe(false)
    for (const bad of ['1900000000', null, undefined, Number.NaN, {}]) {
      expect(internal.isNotBeforeReached(bad, now, 10)).toBe(false)
      expect(internal.isBeforeExpiry(bad, now, 10)).toBe(false)
    }
  })
})
