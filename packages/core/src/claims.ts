/**
 * The time-claim checks every receiver of a JWT shares: `iat` within its window, `nbf` reached,
 * `exp` not passed, each with a clock tolerance. They answer, never throw, so each package words
 * and classifies the failure in its own error family.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4
 * @packageDocumentation
 */

/**
 * Why `iat` is outside `[now - maxAge, now + tolerance]` (RFC 9449 §4.3 item 11), or
 * `undefined` when it is inside. All values in seconds.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function issuedAtProblem(
  iat: number,
  nowSeconds: number,
  maxAge: number,
  tolerance: number,
): 'stale' | 'future' | undefined {
  if (iat < nowSeconds - maxAge) return 'stale'
  if (iat > nowSeconds + tolerance) return 'future'
  return undefined
}

/**
 * Whether an `nbf` (RFC 7519 §4.1.5) is reached at `nowSeconds`, give or take `tolerance`.
 * Anything but a number is not (fails closed).
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1.5
 */
export function isNotBeforeReached(nbf: unknown, nowSeconds: number, tolerance: number): boolean {
  return typeof nbf === 'number' && nbf <= nowSeconds + tolerance
}

/**
 * Whether an `exp` (RFC 7519 §4.1.4) is still ahead at `nowSeconds`, give or take `tolerance`.
 * Anything but a number is not (fails closed).
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4
 */
export function isBeforeExpiry(exp: unknown, nowSeconds: number, tolerance: number): boolean {
  return typeof exp === 'number' && exp > nowSeconds - tolerance
}
