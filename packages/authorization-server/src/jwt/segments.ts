/**
 * Reading the parts of a compact JWT (RFC 7519 §7.2) before its signature is checked: what the
 * access-token verifier and the token-exchange grant both need.
 * @packageDocumentation
 */

/**
 * Decodes one base64url JSON object segment of a JWT; `undefined` when it is not one.
 * @example
 * ```ts
 * decodeSegment(token.split('.')[1]!)?.iss
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-7.2
 */
export function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
