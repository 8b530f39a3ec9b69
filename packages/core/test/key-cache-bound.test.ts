/**
 * The cache of verified proof headers (one per client key, usually) stays bounded whatever
 * number of distinct headers attackers send (issue: "the number of distinct keys in the key
 * cache"), and a header pushed out of it is simply checked again.
 */
import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'
import { compact, newJti, RS_REQUEST, RS_URL, testKey } from './support/jws.js'

const NOW = 1_800_000_000

describe.each(backends)('header cache bound ($name backend)', ({ core }) => {
  it(`holds at most HEADER_CACHE_SIZE (${4096}) headers after 5,000 distinct ones`, async () => {
    const key = testKey('ES256')
    const store = new core.MemoryReplayStore({ now: () => NOW * 1000 })
    const proofFor = (index: number): string =>
      compact(
        // A distinct extra header parameter makes a distinct cache entry with the same key.
        { typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk, n: index },
        { jti: newJti(), htm: 'GET', htu: RS_URL, iat: NOW },
        key,
      )
    for (let index = 0; index < 5_000; index++) {
      await core.verifyProof(proofFor(index), RS_REQUEST, {
        replayStore: store,
        now: () => NOW * 1000,
      })
    }
    expect(core.HEADER_CACHE_SIZE).toBe(4096)
    expect(core.core.cachedHeaders).toBeLessThanOrEqual(core.HEADER_CACHE_SIZE)
    expect(core.core.cachedHeaders).toBeGreaterThan(core.HEADER_CACHE_SIZE - 100)
    // The oldest header left the cache; a new proof with it is verified from scratch and accepted.
    const again = await core.verifyProof(proofFor(0), RS_REQUEST, {
      replayStore: store,
      now: () => NOW * 1000,
    })
    expect(again.header.n).toBe(0)
  })
})
