/**
 * Small crypto helpers: random handles, hashes for storage, constant-time comparison.
 * @packageDocumentation
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * A random handle (code, token, id) of `bytes` random bytes, base64url.
 * @example
 * ```ts
 * const code = randomHandle() // 43 characters, 256 bits
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.10
 */
export function randomHandle(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * SHA-256 of a string, base64url: how codes, tokens and secrets are stored and looked up.
 * @example
 * ```ts
 * const stored = hashHandle(refreshToken)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.1.3
 */
export function hashHandle(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url')
}

/**
 * Compares two strings in time that does not depend on where they differ.
 * @example
 * ```ts
 * if (!equalsConstantTime(hashHandle(secret), client.secretHash)) throw invalidClient()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.1.3
 */
export function equalsConstantTime(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest()
  const right = createHash('sha256').update(b).digest()
  return timingSafeEqual(left, right) && a.length === b.length
}

/**
 * The current time in whole seconds.
 * @example
 * ```ts
 * const now = epochSeconds(Date.now())
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-2
 */
export function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000)
}
