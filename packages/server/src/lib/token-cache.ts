import { calculateAth } from '@keybound/core'

/**
 * A bounded cache of token validation results, keyed by a SHA-256 of the token (so the cache
 * never holds a usable token) and kept until an expiry, least recently used first out.
 */

interface Entry<V> {
  value: V
  /** Milliseconds since the epoch. */
  until: number
}

/**
 * base64url(SHA-256(token)): the token's `ath` (RFC 9449 §4.2), through core, so that Node hashes
 * synchronously (WebCrypto's digest costs a thread-pool round trip per call) and other
 * runtimes use WebCrypto.
 */
export function hashToken(token: string): Promise<string> {
  // core refuses an empty token as a programming error; here it is just a token to refuse later.
  return token === '' ? Promise.resolve('') : calculateAth(token)
}

/** LRU map with a capacity and per-entry expiry. */
export class TokenCache<V> {
  private readonly entries = new Map<string, Entry<V>>()

  constructor(
    readonly capacity: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    if (entry.until <= this.now()) return undefined
    // Re-inserting keeps Map insertion order equal to recency order.
    this.entries.set(key, entry)
    return entry.value
  }

  set(key: string, value: V, until: number): void {
    if (this.capacity <= 0 || until <= this.now()) return
    this.entries.delete(key)
    while (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next()
      if (oldest.done === true) break
      this.entries.delete(oldest.value)
    }
    this.entries.set(key, { value, until })
  }
}
