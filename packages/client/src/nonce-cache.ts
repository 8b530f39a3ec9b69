/**
 * The `DPoP-Nonce` values servers sent, kept per origin (RFC 9449 §8, §9: "nonces will be only
 * accepted by the server that issued them"). Bounded, least-recently-used first out, so a client
 * that talks to many hosts does not grow without limit.
 * @packageDocumentation
 */
import { invalidArgument, NQCHAR_TOKEN } from '@keybound/core/internal'

/** Options of {@link createNonceCache}. */
export interface NonceCacheOptions {
  /** How many origins to remember (default 100). */
  maxOrigins?: number
}

/** An opaque handle holding the latest nonce of each origin. Share one between fetches. */
export interface NonceCache {
  /** The latest nonce `origin` sent, if any. */
  get(origin: string): string | undefined
  /** Records the nonce `origin` sent (the newest always wins, §8.2). */
  set(origin: string, nonce: string): void
  /** Forgets every nonce. */
  clear(): void
  /** How many origins have a nonce. */
  readonly size: number
}

/**
 * True when `value` is a syntactically valid `DPoP-Nonce` (RFC 9449 §8.1: `1*NQCHAR`).
 * @example
 * ```ts
 * isValidNonce('eyJ7S_zG.eyJH0-Z.HX4w-7v') // true
 * isValidNonce('two words') // false
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8.1
 */
export function isValidNonce(value: string): boolean {
  return value.length <= 4096 && NQCHAR_TOKEN.test(value)
}

/**
 * Creates a bounded per-origin nonce cache.
 * @example
 * ```ts
 * const nonces = createNonceCache({ maxOrigins: 20 })
 * const api = createDPoPFetch({ fetch, key, nonces })
 * const tokens = createTokenClient({ ..., nonces })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export function createNonceCache(options: NonceCacheOptions = {}): NonceCache {
  const maxOrigins = options.maxOrigins ?? 100
  if (!Number.isInteger(maxOrigins) || maxOrigins < 1) {
    throw invalidArgument('maxOrigins', 'a positive integer')
  }
  const entries = new Map<string, string>()
  return {
    get(origin) {
      return entries.get(origin)
    },
    set(origin, nonce) {
      if (!isValidNonce(nonce)) return // a malformed nonce would only make the next proof fail
      entries.delete(origin) // re-insert: Map order doubles as recency order
      if (entries.size >= maxOrigins) entries.delete(entries.keys().next().value!)
      entries.set(origin, nonce)
    },
    clear() {
      entries.clear()
    },
    get size() {
      return entries.size
    },
  }
}
