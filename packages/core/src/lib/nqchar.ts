/**
 * The one character rule shared by scope tokens and DPoP nonces.
 * @packageDocumentation
 */

/**
 * `1*NQCHAR` (%x21 / %x23-5B / %x5D-7E: printable ASCII without space, `"` and `\`): a scope
 * token (RFC 6749 §3.3) and a `DPoP-Nonce` value (RFC 9449 §8.1) are both written this way.
 * Exported through `@keybound/core/internal` only.
 * @example
 * ```ts
 * NQCHAR_TOKEN.test('notes:read') // true
 * NQCHAR_TOKEN.test('read write') // false: a space separates two scope tokens
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export const NQCHAR_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/
