/**
 * The one place where errors and token-endpoint style JSON responses get their wire shape:
 * status, `error`, `error_description`, `DPoP-Nonce`, `Cache-Control`, `WWW-Authenticate`.
 * Every route throws an {@link OAuthError} (or a core `DPoPError`) and this module answers it,
 * so the mapping of the error table (docs/requirements.md E1–E7) lives here and nowhere else.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @packageDocumentation
 */
import { DPoPError, KeyboundError, NonceRequired, ReplayStoreUnavailable } from '@keybound/core'
import type { FastifyReply } from 'fastify'
import { errorPage } from '../views/error-page.js'
import type { AuthorizationServerErrorCode } from '../errors.js'

/** Error codes this server answers with (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 9449 §5, §8). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'invalid_client_metadata'
  | 'invalid_redirect_uri'
  | 'invalid_token'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_request_uri'
  | 'invalid_request_object'
  | 'unsupported_token_type'
  | 'temporarily_unavailable'
  | 'server_error'

/** Statuses by error code, per RFC 6749 §5.2 and RFC 7591 §3.2.2 unless a route says otherwise. */
const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  invalid_client_metadata: 400,
  invalid_redirect_uri: 400,
  invalid_token: 401,
  access_denied: 403,
  unsupported_response_type: 400,
  invalid_request_uri: 400,
  invalid_request_object: 400,
  unsupported_token_type: 400,
  temporarily_unavailable: 503,
  server_error: 500,
}

/** What {@link OAuthError} may carry besides code and description. */
export interface OAuthErrorOptions {
  /** Override of the default status of the code. */
  status?: number
  /** The client authenticated with HTTP Basic: a 401 then carries `WWW-Authenticate: Basic` (RFC 6749 §5.2). */
  basicChallenge?: boolean
  /** The initial access token at `/register` was wrong: answer with a Bearer challenge (RFC 6750 §3). */
  bearerChallenge?: boolean
  /** Underlying error, for logs only (never sent). */
  cause?: unknown
  /** Seconds until the client may try again: sent as `Retry-After` (RFC 9110 §10.2.3). */
  retryAfter?: number
}

/**
 * An OAuth error response. The description is sent to the client, so it must name the field
 * that is wrong and never contain a token, a secret or a proof.
 *
 * @example
 * ```ts
 * throw new OAuthError('invalid_grant', 'authorization code is invalid or expired')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class OAuthError extends KeyboundError {
  /** The stable code of this error class; the OAuth `error` is also its `reason`. */
  static code: AuthorizationServerErrorCode = 'ERR_DPOP_AS_OAUTH_ERROR'
  /** The stable code of this error. */
  declare readonly code: AuthorizationServerErrorCode
  /** The OAuth `error` code sent to the client. */
  readonly error: OAuthErrorCode
  readonly status: number
  readonly basicChallenge: boolean
  readonly bearerChallenge: boolean
  readonly retryAfter: number | undefined

  constructor(error: OAuthErrorCode, description: string, options: OAuthErrorOptions = {}) {
    super(description, {
      reason: error,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.error = error
    this.status = options.status ?? STATUS[error]
    this.basicChallenge = options.basicChallenge === true
    this.bearerChallenge = options.bearerChallenge === true
    this.retryAfter = options.retryAfter ?? (this.status === 503 ? 1 : undefined)
  }
}

/**
 * Maps anything thrown while handling a request to the OAuth error to answer with: core
 * `NonceRequired` → `use_dpop_nonce`, `ReplayStoreUnavailable` → 503, every other `DPoPError` →
 * `invalid_dpop_proof`, anything unknown → `server_error` (its message is not sent).
 *
 * @example
 * ```ts
 * const oauth = toOAuthError(error) // OAuthError { error: 'invalid_dpop_proof', status: 400 }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function toOAuthError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error
  if (error instanceof NonceRequired) {
    return new OAuthError('use_dpop_nonce', 'Authorization server requires nonce in DPoP proof', {
      cause: error,
    })
  }
  if (error instanceof ReplayStoreUnavailable) {
    return new OAuthError(
      'temporarily_unavailable',
      'DPoP replay protection is unavailable, try again later',
      {
        cause: error,
      },
    )
  }
  if (error instanceof DPoPError)
    return new OAuthError('invalid_dpop_proof', error.message, { cause: error })
  if (isStorageUnavailable(error)) {
    return new OAuthError('temporarily_unavailable', 'storage is unavailable, try again later', {
      cause: error,
    })
  }
  if (isClientError(error)) {
    // Keep Fastify's status: 413 for a body over the limit, 415 for a media type nobody reads.
    return new OAuthError('invalid_request', 'request could not be parsed', {
      status: (error as { statusCode: number }).statusCode,
      cause: error,
    })
  }
  return new OAuthError('server_error', 'internal server error', { cause: error })
}

// pg: connection refused/reset/timed out, SQLSTATE class 08 (connection exception) and 57P0x
// (the server is shutting down or starting), and pg-pool's own connect timeout and lost
// connections; SQLite: the file is locked or cannot be read or written. The request did not
// happen (a transaction that lost its connection is rolled back by the server), so the client
// may retry: 503, not 500.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
])
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end)/

function isStorageUnavailable(error: unknown): boolean {
  for (let depth = 0; depth < 4 && typeof error === 'object' && error !== null; depth++) {
    const { code, message } = error as { code?: unknown; message?: unknown }
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08')))
      return true
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true
    error = (error as { cause?: unknown }).cause
  }
  return false
}

// Fastify's own 4xx errors (bad JSON, unsupported media type, body too large) carry a statusCode.
function isClientError(error: unknown): boolean {
  const status = (error as { statusCode?: unknown } | null)?.statusCode
  return typeof status === 'number' && status >= 400 && status < 500
}

/** Extras of an answer: the nonce to hand out. */
export interface AnswerOptions {
  /** A fresh `DPoP-Nonce` value: required for `use_dpop_nonce`, optional otherwise (§8.2 rotation). */
  nonce?: string | undefined
}

/**
 * Sends an OAuth error as JSON with `Cache-Control: no-store`, the challenge headers RFC 6749 and
 * RFC 6750 ask for, and exactly one `DPoP-Nonce` when a nonce is given.
 *
 * @example
 * ```ts
 * return sendError(reply, new OAuthError('use_dpop_nonce', '…'), { nonce: await nonces.issueNonce() })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export function sendError(
  reply: FastifyReply,
  error: OAuthError,
  options: AnswerOptions = {},
): FastifyReply {
  setNoStore(reply)
  if (options.nonce !== undefined) reply.header('DPoP-Nonce', options.nonce)
  if (error.status === 401 && error.basicChallenge)
    reply.header('WWW-Authenticate', 'Basic realm="token"')
  if (error.bearerChallenge) {
    reply.header(
      'WWW-Authenticate',
      `Bearer error="invalid_token", error_description="${error.message}"`,
    )
  }
  if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter))
  return reply
    .code(error.status)
    .type('application/json')
    .send({ error: error.error, error_description: error.message })
}

/**
 * Sends a successful JSON answer with `Cache-Control: no-store` (RFC 6749 §5.1) and, when the
 * nonce is rotated, the new `DPoP-Nonce` (RFC 9449 §8.2).
 *
 * @example
 * ```ts
 * return sendJson(reply, 200, { access_token, token_type: 'DPoP', expires_in: 300 }, { nonce })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function sendJson(
  reply: FastifyReply,
  status: number,
  body: unknown,
  options: AnswerOptions = {},
): FastifyReply {
  setNoStore(reply)
  if (options.nonce !== undefined) reply.header('DPoP-Nonce', options.nonce)
  return reply.code(status).type('application/json').send(body)
}

/**
 * Sends an authorization error to the client's redirect URI (RFC 6749 §4.1.2.1) with `state`
 * and, when given, the RFC 9207 `iss` parameter. Only call it once the redirect URI is known to be registered.
 *
 * @example
 * ```ts
 * return redirectError(reply, redirectUri, new OAuthError('access_denied', 'the user denied'), { state, issuer })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9207#section-2
 */
export function redirectError(
  reply: FastifyReply,
  redirectUri: string,
  error: OAuthError,
  context: { state?: string | undefined; issuer: string | undefined },
): FastifyReply {
  const target = new URL(redirectUri)
  target.searchParams.set('error', error.error)
  target.searchParams.set('error_description', error.message)
  if (context.state !== undefined) target.searchParams.set('state', context.state)
  // `undefined` when the operator turned RFC 9207 off (authorizationResponse.iss: false).
  if (context.issuer !== undefined) target.searchParams.set('iss', context.issuer)
  setNoStore(reply)
  return reply.redirect(target.href, 303)
}

/**
 * Shows an authorization error to the user instead of redirecting, for the cases where the
 * redirect URI cannot be trusted (unknown client, unregistered redirect URI; RFC 6749 §4.1.2.1).
 *
 * @example
 * ```ts
 * return showError(reply, new OAuthError('invalid_request', '"redirect_uri" is not registered'))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
export function showError(reply: FastifyReply, error: OAuthError): FastifyReply {
  setNoStore(reply)
  if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter))
  return reply
    .code(error.status)
    .type('text/html; charset=utf-8')
    .send(errorPage(error.error, error.message))
}

/**
 * Marks a response as uncacheable (RFC 6749 §5.1; RFC 9449 §8.2 for responses with nonces).
 * @example
 * ```ts
 * setNoStore(reply)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function setNoStore(reply: FastifyReply): void {
  reply.header('Cache-Control', 'no-store')
  reply.header('Pragma', 'no-cache')
}

/** What the central error handler needs. */
export interface ErrorHandlerDependencies {
  /** Issues a fresh AS nonce for `use_dpop_nonce` answers. */
  issueNonce(): Promise<string>
  /** Counts an error answer. */
  count(endpoint: string, error: OAuthErrorCode): void
}

/**
 * The Fastify error handler of the JSON endpoints: every thrown error becomes an OAuth error
 * answer; `use_dpop_nonce` carries exactly one fresh `DPoP-Nonce` (RFC 9449 §8); server errors
 * are logged (with the cause, never the request body) and answered without details.
 * @example
 * ```ts
 * app.setErrorHandler(createErrorHandler({ issueNonce: () => nonces.issueNonce(), count }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function createErrorHandler(dependencies: ErrorHandlerDependencies) {
  return async function handleError(
    this: unknown,
    error: unknown,
    request: {
      routeOptions: { url?: string | undefined }
      log: { error(o: object, m: string): void }
    },
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const oauth = toOAuthError(error)
    if (oauth.status >= 500) request.log.error({ err: oauth.cause ?? oauth }, 'request failed')
    dependencies.count(request.routeOptions.url ?? 'unknown', oauth.error)
    const nonce = oauth.error === 'use_dpop_nonce' ? await dependencies.issueNonce() : undefined
    return sendError(reply, oauth, nonce === undefined ? {} : { nonce })
  }
}
