/**
 * A fixed-window rate limiter: at most `max` counted events per key in each window. Keys are
 * attacker-chosen (client ids, usernames, addresses), so the table is bounded: when it is full,
 * the oldest window is dropped, which can only give that key a fresh window early, never block a
 * key that did nothing.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.10
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 * @packageDocumentation
 */
import type { RateLimit } from '../config.js'

/** Whether one more event is allowed, and when a refused key may try again (whole seconds). */
export type RateDecision = { allowed: true } | { allowed: false; retryAfter: number }

interface Window {
  /** When the window ends, in ms. */
  endsAt: number
  count: number
}

/** Most keys tracked at once per limiter (about 100 bytes each). */
export const MAX_TRACKED_KEYS = 100_000

/**
 * One limit over many keys.
 *
 * @example
 * ```ts
 * const limiter = new FixedWindowLimiter({ max: 10, windowSeconds: 300 })
 * if (!limiter.hit(`user:${username}`).allowed) return tooManyRequests()
 * if (passwordOk) limiter.refund(`user:${username}`)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, Window>()

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = MAX_TRACKED_KEYS,
  ) {}

  /** Number of keys tracked (for tests and metrics). */
  get size(): number {
    return this.windows.size
  }

  /** Counts one event for `key` and says whether it was within the limit. */
  hit(key: string): RateDecision {
    const now = this.now()
    const window = this.current(key, now) ?? this.open(key, now)
    window.count++
    return this.decide(window, now)
  }

  /** Says whether `key` is still within the limit, without counting anything. */
  peek(key: string): RateDecision {
    const now = this.now()
    const window = this.current(key, now)
    return window === undefined || window.count < this.limit.max
      ? { allowed: true }
      : this.refusal(window, now)
  }

  /**
   * Takes back one event of `key` counted by {@link hit} in the current window (a request that
   * was counted before it was checked, and then turned out not to count).
   */
  refund(key: string): void {
    const window = this.current(key, this.now())
    if (window !== undefined && window.count > 0) window.count--
  }

  /** Whether `key` has an open window (something was counted for it in this window). */
  has(key: string): boolean {
    return this.current(key, this.now()) !== undefined
  }

  private decide(window: Window, now: number): RateDecision {
    return window.count <= this.limit.max ? { allowed: true } : this.refusal(window, now)
  }

  private refusal(window: Window, now: number): RateDecision {
    return { allowed: false, retryAfter: Math.max(1, Math.ceil((window.endsAt - now) / 1000)) }
  }

  private current(key: string, now: number): Window | undefined {
    const window = this.windows.get(key)
    if (window === undefined || window.endsAt > now) return window
    this.windows.delete(key)
    return undefined
  }

  private open(key: string, now: number): Window {
    if (this.windows.size >= this.maxKeys) {
      // Every window of one limiter has the same length, so Map order (insertion order) is
      // also expiry order: the first entry is the one closest to ending anyway. O(1).
      const oldest = this.windows.keys().next()
      if (oldest.done !== true) this.windows.delete(oldest.value)
    }
    const window = { endsAt: now + this.limit.windowSeconds * 1000, count: 0 }
    this.windows.set(key, window)
    return window
  }
}
