/**
 * Errors of access-token validation, in Keybound's one error family (`KeyboundError`). Core's
 * `DPoPError`s keep their own codes; these are the server's.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @packageDocumentation
 */
import { KeyboundError, type KeyboundErrorOptions } from '@keybound/core'

/**
 * Stable codes of the errors thrown by `@keybound/server`.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export type AccessTokenErrorCode =
  'ERR_DPOP_ACCESS_TOKEN_INVALID' | 'ERR_DPOP_ACCESS_TOKEN_UNAVAILABLE'

/**
 * What an access-token error carries besides its message (never the token).
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface AccessTokenErrorOptions extends KeyboundErrorOptions {
  /** The token claim the failure is about, e.g. `iss`, `cnf`. */
  claim?: string
}

/**
 * Base of the server's access-token errors.
 * @example
 * ```ts
 * catch (error) { if (error instanceof AccessTokenError) console.error(error.code, error.claim) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export abstract class AccessTokenError extends KeyboundError {
  /** The stable code of this error. */
  declare readonly code: AccessTokenErrorCode
  /** The token claim the failure concerns, when there is one. */
  readonly claim?: string

  constructor(message: string, options: AccessTokenErrorOptions = {}) {
    super(message, options)
    if (options.claim !== undefined) this.claim = options.claim
  }
}

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
export class AccessTokenInvalid extends AccessTokenError {
  static code: AccessTokenErrorCode = 'ERR_DPOP_ACCESS_TOKEN_INVALID'
}

/**
 * The validator could not tell (JWKS or introspection endpoint unreachable, timed out, or
 * answering nonsense). Answered with 503 `temporarily_unavailable`, never with acceptance.
 *
 * @example
 * ```ts
 * throw new AccessTokenUnavailable('introspection endpoint answered 500', {
 *   reason: 'http status',
 *   details: { status: 500 },
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.3
 */
export class AccessTokenUnavailable extends AccessTokenError {
  static code: AccessTokenErrorCode = 'ERR_DPOP_ACCESS_TOKEN_UNAVAILABLE'
}
