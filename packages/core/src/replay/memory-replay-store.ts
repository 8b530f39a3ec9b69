/**
 * The embedded replay store: one process, bounded memory, no eviction of live entries.
 * @packageDocumentation
 */
import { InvalidArgument, ReplayStoreUnavailable } from '../errors.js'
import type { ReplayStore } from './replay-store.js'

/** Options of {@link MemoryReplayStore}. */
export interface MemoryReplayStoreOptions {
  /** Most entries held at once (default 1,000,000, about 55 MB, measured by `npm run bench`). When full of live entries, it fails closed. */
  maxEntries?: number
  /** Current time in milliseconds; defaults to `Date.now`. */
  now?: () => number
}

// Each check advances the background sweep this many entries, so expired entries leave at the
// rate new ones come in and no request ever pays for a full scan (except when the store is full).
const SWEEP_STEP = 2

/**
 * A bounded in-memory `ReplayStore`. Entries are keyed by a 64-bit keyed hash of `(jkt, jti)`
 * (with a random per-store seed, so collisions cannot be planned; a collision can only refuse a
 * proof, never accept one) and expire at whole seconds after their TTL. It never evicts an
 * unexpired entry: when full it throws `ReplayStoreUnavailable` (reason `full`), and the
 * request fails closed.
 *
 * @example
 * ```ts
 * const replayStore = new MemoryReplayStore({ maxEntries: 100_000 })
 * await verifyProof(proof, request, { replayStore })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export class MemoryReplayStore implements ReplayStore {
  readonly maxEntries: number
  private readonly now: () => number
  // key -> expiry, in whole seconds since `epoch`: small integers stay unboxed in V8.
  private readonly entries = new Map<string, number>()
  private readonly epoch: number
  private readonly seed1 = (Math.random() * 0x100000000) >>> 0
  private readonly seed2 = (Math.random() * 0x100000000) >>> 0
  private sweeper: Iterator<[string, number]> | undefined

  constructor(options: MemoryReplayStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 1_000_000
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new InvalidArgument('maxEntries must be a positive integer')
    }
    this.maxEntries = maxEntries
    this.now = options.now ?? Date.now
    this.epoch = Math.floor(this.now() / 1000)
  }

  /** Number of entries currently held (expired ones may linger until swept). */
  get size(): number {
    return this.entries.size
  }

  checkAndRecord(jkt: string, jti: string, ttlMs: number): boolean {
    const now = this.seconds(this.now())
    const key = this.keyOf(jkt, jti)
    const expiry = this.entries.get(key)
    this.sweep(now, SWEEP_STEP)
    if (expiry !== undefined && expiry > now) return false
    if (expiry === undefined && this.entries.size >= this.maxEntries) {
      this.sweepAll(now)
      if (this.entries.size >= this.maxEntries) {
        throw new ReplayStoreUnavailable('replay store is full of unexpired entries', {
          reason: 'full',
        })
      }
    }
    this.entries.set(key, this.seconds(this.now() + Math.max(0, ttlMs)) + 1)
    return true
  }

  private seconds(ms: number): number {
    return Math.floor(ms / 1000) - this.epoch
  }

  // Advances the background sweep by `budget` entries, wrapping around at the end.
  private sweep(now: number, budget: number): void {
    for (let visited = 0; visited < budget && this.entries.size > 0; visited++) {
      this.sweeper ??= this.entries.entries()
      const next = this.sweeper.next()
      if (next.done === true) {
        this.sweeper = undefined
        continue
      }
      if (next.value[1] <= now) this.entries.delete(next.value[0])
    }
  }

  private sweepAll(now: number): void {
    for (const [key, expiry] of this.entries) if (expiry <= now) this.entries.delete(key)
    this.sweeper = undefined
  }

  // Two 32-bit multiply-xor lanes with per-store seeds: 64 bits, stored as four UTF-16 units.
  private keyOf(jkt: string, jti: string): string {
    let h1 = this.seed1 ^ 0xdeadbeef
    let h2 = this.seed2 ^ 0x41c6ce57
    // The mixing step is written out three times (no closure per call): it is the hot path.
    for (let i = 0; i < jkt.length; i++) {
      const code = jkt.charCodeAt(i)
      h1 = Math.imul(h1 ^ code, 2654435761)
      h2 = Math.imul(h2 ^ code, 1597334677)
    }
    h1 = Math.imul(h1 ^ 0x1f, 2654435761)
    h2 = Math.imul(h2 ^ 0x1f, 1597334677)
    for (let i = 0; i < jti.length; i++) {
      const code = jti.charCodeAt(i)
      h1 = Math.imul(h1 ^ code, 2654435761)
      h2 = Math.imul(h2 ^ code, 1597334677)
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
    return String.fromCharCode(h1 & 0xffff, h1 >>> 16, h2 & 0xffff, h2 >>> 16)
  }
}
