import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'
import { handProof, RS_REQUEST, testKey } from './support/jws.js'

const T0 = 1_780_000_000_000
const es = testKey('ES256')

describe.each(backends)('MemoryReplayStore ($name backend)', ({ core }) => {
  it('answers true the first time and false for the same (jkt, jti); other pairs are independent', () => {
    const store = new core.MemoryReplayStore({ now: () => T0 })
    expect(store.checkAndRecord('jkt-a', 'jti-1', 70_000)).toBe(true)
    expect(store.checkAndRecord('jkt-a', 'jti-1', 70_000)).toBe(false)
    expect(store.checkAndRecord('jkt-b', 'jti-1', 70_000)).toBe(true)
    expect(store.checkAndRecord('jkt-a', 'jti-2', 70_000)).toBe(true)
    // the separator keeps ("ab", "c") and ("a", "bc") apart
    expect(store.checkAndRecord('ab', 'c', 70_000)).toBe(true)
    expect(store.checkAndRecord('a', 'bc', 70_000)).toBe(true)
    expect(store.size).toBe(5)
  })

  it('fails closed when full of live entries (reason full) and never evicts a live entry', () => {
    let now = T0
    const store = new core.MemoryReplayStore({ maxEntries: 3, now: () => now })
    for (const jti of ['a', 'b', 'c']) expect(store.checkAndRecord('k', jti, 60_000)).toBe(true)
    expect(() => store.checkAndRecord('k', 'd', 60_000)).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_REPLAY_STORE_UNAVAILABLE', reason: 'full' }),
    )
    now += 59_000
    expect(() => store.checkAndRecord('k', 'e', 60_000)).toThrow(
      expect.objectContaining({ reason: 'full' }),
    )
    // every live entry is still there: each is still a replay
    for (const jti of ['a', 'b', 'c']) expect(store.checkAndRecord('k', jti, 60_000)).toBe(false)
    expect(store.size).toBe(3)
  })

  it('expired entries make room (injected clock), and an expired pair is fresh again', () => {
    let now = T0
    const store = new core.MemoryReplayStore({ maxEntries: 2, now: () => now })
    expect(store.checkAndRecord('k', 'a', 10_000)).toBe(true)
    now += 5_000
    expect(store.checkAndRecord('k', 'b', 10_000)).toBe(true)
    // a lives until at least T0 + 10 s, whole seconds rounded up
    now = T0 + 10_000
    expect(store.checkAndRecord('k', 'a', 10_000)).toBe(false)
    expect(() => store.checkAndRecord('k', 'c', 10_000)).toThrow(
      expect.objectContaining({ reason: 'full' }),
    )
    now = T0 + 12_000 // a has expired, b has not
    expect(store.checkAndRecord('k', 'c', 10_000)).toBe(true)
    expect(store.checkAndRecord('k', 'b', 10_000)).toBe(false)
    now = T0 + 40_000 // everything recorded so far has expired
    expect(store.checkAndRecord('k', 'a', 10_000)).toBe(true)
    expect(store.checkAndRecord('k', 'b', 10_000)).toBe(true)
    expect(store.size).toBeLessThanOrEqual(2)
  })

  it('an entry is live for at least its TTL and gone within a second after it', () => {
    for (const offset of [0, 1, 499, 999]) {
      let now = T0 + offset
      const start = now
      const store = new core.MemoryReplayStore({ now: () => now })
      expect(store.checkAndRecord('k', 'j', 70_000)).toBe(true)
      now = start + 70_000
      expect(store.checkAndRecord('k', 'j', 70_000)).toBe(false)
      now = start + 72_000
      expect(store.checkAndRecord('k', 'j', 70_000)).toBe(true)
    }
  })

  it('the background sweep removes expired entries as new ones come in', () => {
    let now = T0
    const store = new core.MemoryReplayStore({ now: () => now })
    for (let i = 0; i < 100; i++) store.checkAndRecord('k', `old-${i}`, 1_000)
    now += 5_000
    for (let i = 0; i < 100; i++) store.checkAndRecord('k', `new-${i}`, 60_000)
    expect(store.size).toBeLessThan(200)
  })

  it('concurrent-ish verifications of the same proof: exactly one succeeds', async () => {
    const store = new core.MemoryReplayStore()
    const proof = handProof(es, Math.floor(Date.now() / 1000))
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => core.verifyProof(proof, RS_REQUEST, { replayStore: store })),
    )
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
      expect(r.reason).toMatchObject({ code: 'ERR_DPOP_REPLAYED' })
    }
    const direct = await Promise.all(
      Array.from({ length: 50 }, () =>
        Promise.resolve().then(() => store.checkAndRecord('k', 'same', 60_000)),
      ),
    )
    expect(direct.filter(Boolean)).toHaveLength(1)
  })

  it('verifyProof fails closed: a full store → ERR_DPOP_REPLAY_STORE_UNAVAILABLE (full); a throwing store → unreachable', async () => {
    const iat = Math.floor(Date.now() / 1000)
    const store = new core.MemoryReplayStore({ maxEntries: 1 })
    await expect(
      core.verifyProof(handProof(es, iat), RS_REQUEST, { replayStore: store }),
    ).resolves.toBeDefined()
    await expect(
      core.verifyProof(handProof(es, iat), RS_REQUEST, { replayStore: store }),
    ).rejects.toMatchObject({
      code: 'ERR_DPOP_REPLAY_STORE_UNAVAILABLE',
      reason: 'full',
    })
    const broken = { checkAndRecord: () => Promise.reject(new Error('ECONNREFUSED')) }
    await expect(
      core.verifyProof(handProof(es, iat), RS_REQUEST, { replayStore: broken }),
    ).rejects.toMatchObject({
      code: 'ERR_DPOP_REPLAY_STORE_UNAVAILABLE',
      reason: 'unreachable',
    })
  })

  it('verifyProof records a TTL that ends a second after iat + maxAge + clockTolerance (or with the nonce lifetime)', async () => {
    const ttls: number[] = []
    const recording = {
      checkAndRecord: (_jkt: string, _jti: string, ttl: number) => (ttls.push(ttl), true),
    }
    const now = T0
    await core.verifyProof(handProof(es, now / 1000), RS_REQUEST, {
      replayStore: recording,
      now: () => now,
    })
    await core.verifyProof(handProof(es, now / 1000), RS_REQUEST, {
      replayStore: recording,
      now: () => now,
      maxAge: 300,
      clockTolerance: 5,
    })
    const nonces = core.createNonceSource({
      secret: 'memory-store-test-secret-0123456789ab',
      now: () => now,
      stepSeconds: 60,
    })
    await core.verifyProof(
      handProof(es, now / 1000 - 3000, { nonce: await nonces.issueNonce() }),
      RS_REQUEST,
      { replayStore: recording, now: () => now, nonce: nonces },
    )
    expect(ttls[0]).toBe(71_000)
    expect(ttls[1]).toBe(306_000)
    const stepEnd = (Math.floor(now / 60_000) + 2) * 60_000
    expect(ttls[2]).toBe(stepEnd - now + 10_000)
  })

  it('a proof dated at the future edge stays a replay for an instance whose clock is clockTolerance behind', async () => {
    // Two instances share one store; B's clock runs 10 s (clockTolerance) behind the store's.
    let realMs = T0
    const store = new core.MemoryReplayStore({ now: () => realMs })
    const iat = T0 / 1000 + 10 // the future edge: accepted by A at T0
    const proof = handProof(es, iat)
    await expect(
      core.verifyProof(proof, RS_REQUEST, { replayStore: store, now: () => realMs }),
    ).resolves.toBeDefined()
    // 75.4 s later B still reads second iat + maxAge - 5 on its clock: not stale for B.
    realMs = T0 + 75_400
    await expect(
      core.verifyProof(proof, RS_REQUEST, { replayStore: store, now: () => realMs - 10_000 }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_REPLAYED' })
  })

  it('a rejected proof does not use up its jti', async () => {
    const store = new core.MemoryReplayStore()
    const proof = handProof(es, Math.floor(Date.now() / 1000))
    await expect(
      core.verifyProof(proof, { method: 'POST', url: RS_REQUEST.url }, { replayStore: store }),
    ).rejects.toMatchObject({ claim: 'htm' })
    expect(store.size).toBe(0)
    await expect(core.verifyProof(proof, RS_REQUEST, { replayStore: store })).resolves.toBeDefined()
  })

  it('refuses a bad maxEntries and verifyProof refuses a missing replayStore option', async () => {
    expect(() => new core.MemoryReplayStore({ maxEntries: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT' }),
    )
    expect(() => new core.MemoryReplayStore({ maxEntries: 1.5 })).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT' }),
    )
    const proof = handProof(es, Math.floor(Date.now() / 1000))
    await expect(core.verifyProof(proof, RS_REQUEST, {} as never)).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
    })
    await expect(
      core.verifyProof(proof, RS_REQUEST, { replayStore: {} } as never),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_INVALID_ARGUMENT' })
  })
})
