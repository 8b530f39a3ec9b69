/**
 * The embedded replay store: one process, bounded memory, no eviction of live entries.
 * @packageDocumentation
 */
import { ReplayStoreUnavailable } from '../errors.js'
import { invalidArgument } from '../lib/arguments.js'
import type { ReplayStore } from './replay-store.js'

/** Options of {@link MemoryReplayStore}. */
export interface MemoryReplayStoreOptions {
  /** Most entries held at once (default 1,000,000, about 25 MB when full, measured by `npm run bench`). When full of live entries, it fails closed. */
  maxEntries?: number
  /** Current time in milliseconds; defaults to `Date.now`. */
  now?: () => number
}

// Each check also looks at this many slots of a background sweep, so expired entries leave at
// the rate new ones come in and no request pays for a full scan (except when the table grows).
const SWEEP_STEP = 2
const INITIAL_SLOTS = 1024
// At most half the slots are in use: linear probing stays short.
const MAX_LOAD = 0.5

// The smallest power of two (at least 8) whose load stays within MAX_LOAD for `entries`.
function slotsFor(entries: number): number {
  let slots = 8
  while (slots * MAX_LOAD < entries) slots *= 2
  return slots
}

/**
 * A bounded in-memory `ReplayStore`. Entries are keyed by a 64-bit keyed hash of `(jkt, jti)`
 * (with a random per-store seed, so collisions cannot be planned; a collision can only refuse a
 * proof, never accept one) and expire at whole seconds after their TTL. They live in an
 * open-addressing table of typed arrays (12 bytes a slot, no object per entry, nothing for the
 * garbage collector to trace). It never evicts an unexpired entry: when full it throws
 * `ReplayStoreUnavailable` (reason `full`), and the request fails closed.
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
  private readonly epoch: number
  private readonly seed1 = (Math.random() * 0x100000000) | 0
  private readonly seed2 = (Math.random() * 0x100000000) | 0
  // Slot i holds the hash halves low[i], high[i] and expires[i]: the second (since `epoch`) at
  // which the entry is gone, or 0 for an empty slot.
  private low: Int32Array
  private high: Int32Array
  private expires: Int32Array
  private mask: number
  private used = 0
  private sweepCursor = 0
  // The second at which a full table was last found to have no expired entry: until the clock
  // moves on, requests are refused at once instead of each paying for a scan.
  private foundFullAt = -1
  // The hash of the last call, kept here rather than returned in a fresh object.
  private hashLow = 0
  private hashHigh = 0

  constructor(options: MemoryReplayStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 1_000_000
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw invalidArgument('maxEntries', 'a positive integer')
    }
    this.maxEntries = maxEntries
    this.now = options.now ?? Date.now
    this.epoch = Math.floor(this.now() / 1000)
    const slots = Math.min(INITIAL_SLOTS, slotsFor(maxEntries))
    this.low = new Int32Array(slots)
    this.high = new Int32Array(slots)
    this.expires = new Int32Array(slots)
    this.mask = slots - 1
  }

  /** Number of entries currently held (expired ones may linger until swept). */
  get size(): number {
    return this.used
  }

  checkAndRecord(jkt: string, jti: string, ttlMs: number): boolean {
    const nowMs = this.now()
    const now = this.seconds(nowMs)
    const expiry = this.seconds(nowMs + Math.max(0, ttlMs)) + 1
    this.sweep(now, SWEEP_STEP)
    this.hash(jkt, jti)
    const slot = this.find(this.hashLow, this.hashHigh)
    if (this.expires[slot] !== 0) {
      if (this.expires[slot]! > now) return false
      // The same pair, expired: it is fresh again.
      this.expires[slot] = expiry
      return true
    }
    if (this.used >= this.maxEntries) return this.recordWhenFull(now, expiry)
    this.insertAt(slot, expiry)
    if (this.used > this.expires.length * MAX_LOAD) this.rebuild(now, this.expires.length * 2)
    return true
  }

  // Full of entries: drop the expired ones (once a second at most), then fail closed if that
  // did not make room.
  private recordWhenFull(now: number, expiry: number): boolean {
    if (this.foundFullAt !== now) this.rebuild(now, this.expires.length)
    if (this.used >= this.maxEntries) {
      this.foundFullAt = now
      throw new ReplayStoreUnavailable('replay store is full of unexpired entries', {
        reason: 'full',
      })
    }
    this.insertAt(this.find(this.hashLow, this.hashHigh), expiry)
    return true
  }

  private insertAt(slot: number, expiry: number): void {
    this.low[slot] = this.hashLow
    this.high[slot] = this.hashHigh
    this.expires[slot] = expiry
    this.used++
  }

  private seconds(ms: number): number {
    return Math.floor(ms / 1000) - this.epoch
  }

  // The slot holding (low, high), or the empty slot that ends its probe sequence.
  private find(low: number, high: number): number {
    const expires = this.expires
    let slot = low & this.mask
    while (expires[slot] !== 0 && (this.low[slot] !== low || this.high[slot] !== high)) {
      slot = (slot + 1) & this.mask
    }
    return slot
  }

  // Visits `budget` slots from the cursor, removing expired entries.
  private sweep(now: number, budget: number): void {
    if (this.used === 0) return
    for (let visited = 0; visited < budget; visited++) {
      const slot = this.sweepCursor
      const expiry = this.expires[slot]!
      if (expiry !== 0 && expiry <= now) {
        // The entry shifted into this slot is looked at again on the next step.
        this.remove(slot)
      } else {
        this.sweepCursor = (slot + 1) & this.mask
      }
    }
  }

  // Backward-shift deletion: later entries of the probe run move up, so no tombstones are needed.
  private remove(slot: number): void {
    const { low, high, expires, mask } = this
    let hole = slot
    let next = (hole + 1) & mask
    while (expires[next] !== 0) {
      const home = low[next]! & mask
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      const reachable = hole <= next ? home <= hole || home > next : home <= hole && home > next
      if (reachable) {
        low[hole] = low[next]!
        high[hole] = high[next]!
        expires[hole] = expires[next]!
        hole = next
      }
      next = (next + 1) & mask
    }
    expires[hole] = 0
    this.used--
  }

  // Re-inserts every live entry into `slots` slots (growing, or just dropping expired entries).
  private rebuild(now: number, slots: number): void {
    const { low, high, expires } = this
    const size = Math.min(Math.max(slots, slotsFor(this.used)), slotsFor(this.maxEntries))
    this.low = new Int32Array(size)
    this.high = new Int32Array(size)
    this.expires = new Int32Array(size)
    this.mask = size - 1
    this.used = 0
    this.sweepCursor = 0
    for (let slot = 0; slot < expires.length; slot++) {
      const expiry = expires[slot]!
      if (expiry <= now) continue
      const target = this.find(low[slot]!, high[slot]!)
      this.low[target] = low[slot]!
      this.high[target] = high[slot]!
      this.expires[target] = expiry
      this.used++
    }
  }

  // Two 32-bit multiply-xor lanes with per-store seeds: 64 bits, left in hashLow / hashHigh.
  private hash(jkt: string, jti: string): void {
    let h1 = this.seed1 ^ 0xdeadbeef
    let h2 = this.seed2 ^ 0x41c6ce57
    // The mixing step is written out twice (no closure per call): it is the hot path.
    for (let i = 0; i < jkt.length; i++) {
      const code = jkt.charCodeAt(i)
      h1 = Math.imul(h1 ^ code, 2654435761)
      h2 = Math.imul(h2 ^ code, 1597334677)
    }
    // A separator keeps ("ab", "c") and ("a", "bc") apart.
    h1 = Math.imul(h1 ^ 0x1f, 2654435761)
    h2 = Math.imul(h2 ^ 0x1f, 1597334677)
    for (let i = 0; i < jti.length; i++) {
      const code = jti.charCodeAt(i)
      h1 = Math.imul(h1 ^ code, 2654435761)
      h2 = Math.imul(h2 ^ code, 1597334677)
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
    this.hashLow = h1 | 0
    this.hashHigh = h2 | 0
  }
}
