/**
 * Errors of access-token validation, in Keybound's one error family (`DPoPError`).
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @packageDocumentation
 */
import { DPoPError, type DPoPErrorCode } from '@keybound/core'
import type { Rejection, RejectionStatus } from './types.js'

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
export class RequestRejected extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_REQUEST_REJECTED'
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
