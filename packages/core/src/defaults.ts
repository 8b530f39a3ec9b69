/**
 * The defaults of a proof check that other packages must agree with: the debugger words a
 * window it did not choose, and a server's JWT leeway matches the proof's. One place, so a
 * change here moves every package at once.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 * @packageDocumentation
 */

/**
 * How old a proof's `iat` may be, in seconds, when no nonce dates it (RFC 9449 §11.1).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export const DEFAULT_MAX_AGE = 60

/**
 * How far ahead of this server's clock a time claim may be, in seconds (RFC 9449 §4.3 item 11).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export const DEFAULT_CLOCK_TOLERANCE = 10

/**
 * How far `iat` may sit outside a nonce's lifetime when the nonce dates the proof: one day, as
 * a client clock set in the wrong time zone is off by at most 14 hours (RFC 9449 §4.3 item 11).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export const DEFAULT_MAX_CLOCK_SKEW = 86_400

/**
 * The longest proof read before it is refused unparsed, in bytes (RFC 9449 §11).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11
 */
export const DEFAULT_MAX_PROOF_LENGTH = 8192
