/**
 * A bounded cache of token validation results, keyed by a SHA-256 of the token (so the cache
 * never holds a usable token) and kept until an expiry, least recently used first out.
 */

interface Entry<V> {
  value: V
  /** Milliseconds since the epoch. */
  until: number
}

const encoder = new TextEncoder()

/** base64url(SHA-256(token)), through WebCrypto so the package runs outside Node too. */
export async function hashToken(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(token)))
  let binary = ''
  for (const byte of digest) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
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
