/**
 * How a proof identifier becomes a Redis key.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'

/**
 * Length of the hashed part of every key (base64url of a SHA-256 digest): each key is exactly
 * `keyPrefix.length + HASHED_KEY_LENGTH` characters, whatever the proof's `jti`.
 *
 * @example
 * ```ts
 * replayKey('keybound:dpop:jti:', jkt, jti).length === 'keybound:dpop:jti:'.length + HASHED_KEY_LENGTH
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export const HASHED_KEY_LENGTH = 43

/**
 * The Redis key of `(jkt, jti)`: `keyPrefix` followed by base64url(SHA-256(len(jkt) ":" jkt
 * jti)). A hash rather than the raw values because `jti` is chosen by the client: hashing gives
 * every key the same size (43 characters after the prefix), so a long `jti` cannot inflate
 * Redis memory, and no client-chosen bytes reach a key. The length prefix keeps the encoding
 * unambiguous (`("ab", "c")` and `("a", "bc")` hash differently) whatever `jkt` contains.
 *
 * @example
 * ```ts
 * replayKey('keybound:dpop:jti:', jkt, jti) // 'keybound:dpop:jti:' + 43 base64url characters
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function replayKey(keyPrefix: string, jkt: string, jti: string): string {
  const digest = createHash('sha256').update(`${jkt.length}:${jkt}`).update(jti).digest('base64url')
  return keyPrefix + digest
}
