/**
 * Errors of access-token validation, in Keybound's one error family (`KeyboundError`). Core's
 * `DPoPError`s keep their own codes; these are the server's.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @packageDocumentation
 */
import { KeyboundError, type KeyboundErrorOptions } from '@keybound/core'
import type { Rejection, RejectionStatus } from './types.js'

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

/**
 * The RFC 6749 §5.2-style body of a rejection, as an object.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export interface RejectionBody {
  error: string
  error_description?: string
}

function messageOf(rejection: Rejection): string {
  if (rejection.errorDescription !== undefined) return rejection.errorDescription
  return rejection.error === '' ? 'Access token required' : rejection.error
}

/**
 * A rejected request, handed to the framework's error path when an adapter runs with
 * `rejections: 'error'`: Express `next(err)`, a Fastify error for `setErrorHandler` (inside
 * Hono's `HTTPException` as its `cause`). It carries everything the default response would
 * have sent, so an application can render it itself (problem+json, logging) and still send
 * the challenge RFC 6750 §3 and RFC 9449 §7.1 require. `reason` is the verdict's stable code.
 *
 * @example
 * ```ts
 * function render(error: RequestRejected): Response {
 *   return new Response(JSON.stringify({ title: error.message, status: error.status }), {
 *     status: error.status,
 *     headers: { ...error.headers, 'Content-Type': 'application/problem+json' },
 *   })
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export class RequestRejected extends KeyboundError {
  static code = 'ERR_DPOP_REQUEST_REJECTED' as const
  /** The stable code of this error. */
  declare readonly code: typeof RequestRejected.code
  /** The HTTP status to answer with (401, 400, 403 or 503). */
  readonly status: RejectionStatus
  /** The same status, under the name Fastify and `http-errors` read. */
  readonly statusCode: RejectionStatus
  /**
   * The headers the response must carry: `WWW-Authenticate`, and `DPoP-Nonce`,
   * `Cache-Control`, `Retry-After`, `Access-Control-Expose-Headers` where they apply. No
   * `Content-Type`: the body is the application's.
   */
  readonly headers: Readonly<Record<string, string>>
  /** The RFC body the default response sends; `undefined` when no credentials were sent. */
  readonly body: RejectionBody | undefined
  /** The verdict itself. */
  readonly rejection: Rejection
  /** The message is fixed text, never a token: error pages may show it (`http-errors`). */
  readonly expose = true

  constructor(rejection: Rejection) {
    super(messageOf(rejection), { reason: rejection.code ?? 'rejected' })
    this.status = rejection.status
    this.statusCode = rejection.status
    this.headers = Object.freeze({ ...rejection.responseHeaders })
    this.rejection = rejection
    this.body =
      rejection.error === ''
        ? undefined
        : {
            error: rejection.error,
            ...(rejection.errorDescription === undefined
              ? {}
              : { error_description: rejection.errorDescription }),
          }
  }
}
