/**
 * Errors of access-token validation, in Keybound's one error family (`DPoPError`).
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @packageDocumentation
 */
import { DPoPError, type DPoPErrorCode } from '@keybound/core'

/**
 * The access token must be refused: bad signature, wrong issuer or audience, expired, inactive,
 * or not the kind of token expected. Answered with 401 `invalid_token`.
 *
 * @example
 * ```ts
 * throw new AccessTokenInvalid('access token is not active', { reason: 'inactive' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export class AccessTokenInvalid extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_ACCESS_TOKEN_INVALID'
}

/**
 * The validator could not tell (JWKS or introspection endpoint unreachable, timed out, or
 * answering nonsense). Answered with 503 `temporarily_unavailable`, never with acceptance.
 *
 * @example
 * ```ts
 * throw new AccessTokenUnavailable('introspection endpoint answered 500', { reason: 'status 500' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.3
 */
export class AccessTokenUnavailable extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_ACCESS_TOKEN_UNAVAILABLE'
}
