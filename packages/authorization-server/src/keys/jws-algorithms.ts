/**
 * The JWS algorithms this server accepts on what clients sign: client assertions
 * (`private_key_jwt`, RFC 7523 §2.2) and request objects (RFC 9101 §4). One list, taken from
 * core's algorithm table, so that the client, the metadata and the checks cannot drift apart
 * (Ed25519 once reached core and the client but not these checks).
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 * @see https://www.rfc-editor.org/rfc/rfc9101#section-4
 * @packageDocumentation
 */
import { SUPPORTED_ALGORITHMS } from '@keybound/core/internal'

/** Algorithms of client assertions (RFC 7523 §2.2): every one core verifies. */
export const CLIENT_ASSERTION_ALGORITHMS: readonly string[] = SUPPORTED_ALGORITHMS

/** Algorithms of signed request objects (RFC 9101 §4): core's, without RS384 and RS512. */
export const REQUEST_OBJECT_ALGORITHMS: readonly string[] = SUPPORTED_ALGORITHMS.filter(
  (alg) => !alg.startsWith('RS') || alg === 'RS256',
)
