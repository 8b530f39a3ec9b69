/**
 * The in-memory replay store against a model (a plain Map of pair -> expiry second), over random
 * sequences of checks and clock moves, with tables small enough that growth, the background
 * sweep, backward-shift deletion across the table's end and the full state all happen. The
 * store must answer exactly as the model does, except that it may refuse (full) only when the
 * model holds maxEntries live pairs.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryReplayStore } from '@keybound/core'

const T0 = 1_790_000_000_000

type Step =
  { kind: 'check'; jkt: number; jti: number; ttlMs: number } | { kind: 'tick'; ms: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('check' as const),
      jkt: fc.integer({ min: 0, max: 2 }),
      jti: fc.integer({ min: 0, max: 150 }),
      ttlMs: fc.integer({ min: 0, max: 20_000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      ms: fc.integer({ min: 0, max: 15_000 }),
    }),
  },
)

/** What the store promises: live while now < expiry second; expiry = floor((t + ttl)/1000) + 1. */
class Model {
  readonly pairs = new Map<string, number>()
  constructor(readonly maxEntries: number) {}

  live(now: number): number {
    let count = 0
    for (const expiry of this.pairs.values()) if (expiry > now) count++
    return count
  }
}

describe('MemoryReplayStore against a model', () => {
  it('answers as the model over random checks and clock moves (growth, sweep, full)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(step, { minLength: 1000, maxLength: 4000 }),
        (maxEntries, steps) => {
          let nowMs = T0
          const store = new MemoryReplayStore({ maxEntries, now: () => nowMs })
          const model = new Model(maxEntries)
          const epoch = Math.floor(T0 / 1000)
          for (const each of steps) {
            if (each.kind === 'tick') {
              nowMs += each.ms
              continue
            }
            const now = Math.floor(nowMs / 1000) - epoch
            const key = `${each.jkt}\u0000${each.jti}`
            const known = model.pairs.get(key)
            const replay = known !== undefined && known > now
            let answer: boolean | 'full'
            try {
              answer = store.checkAndRecord(`jkt-${each.jkt}`, `jti-${each.jti}`, each.ttlMs)
            } catch (error) {
              expect(error).toMatchObject({
                code: 'ERR_DPOP_REPLAY_STORE_UNAVAILABLE',
                reason: 'full',
              })
              answer = 'full'
            }
            if (replay) {
              expect(answer).toBe(false)
            } else if (answer === 'full') {
              // Refusing is allowed only when every slot is taken by a live pair.
              expect(model.live(now)).toBeGreaterThanOrEqual(maxEntries)
            } else {
              expect(answer).toBe(true)
              model.pairs.set(key, Math.floor((nowMs + each.ttlMs) / 1000) - epoch + 1)
            }
            expect(store.size).toBeLessThanOrEqual(maxEntries)
            expect(store.size).toBeGreaterThanOrEqual(Math.min(model.live(now), maxEntries))
          }
        },
      ),
      { numRuns: 30, endOnFailure: true },
    )
  })

  it('keeps 200,000 live entries, each refused a second time, and fails closed past its bound', () => {
    const store = new MemoryReplayStore({ maxEntries: 200_000, now: () => T0 })
    for (let i = 0; i < 200_000; i++) expect(store.checkAndRecord('k', `j${i}`, 60_000)).toBe(true)
    for (let i = 0; i < 200_000; i += 7)
      expect(store.checkAndRecord('k', `j${i}`, 60_000)).toBe(false)
    expect(() => store.checkAndRecord('k', 'one-more', 60_000)).toThrow(
      expect.objectContaining({ reason: 'full' }),
    )
    expect(store.size).toBe(200_000)
  })
})
