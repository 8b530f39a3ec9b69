/**
 * The errors of `@keybound/client`, in Keybound's one error family: every failure the client
 * reports is a {@link DPoPClientError}, which is a `KeyboundError` from `@keybound/core`, with a
 * stable `ERR_DPOP_CLIENT_*` code on the class and on the instance. A bad argument (a
 * programming error) is core's `InvalidArgument`, as in every Keybound package. Errors that
 * come from an HTTP exchange carry the `Response` as a non-enumerable `response` property, so
 * it is there for debugging but never serialized into logs by accident. Messages never contain
 * an access token, a refresh token, a code or a proof.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @packageDocumentation
 */

import { KeyboundError, type KeyboundErrorOptions } from '@keybound/core'

/**
 * Stable codes of the errors thrown by `@keybound/client`. */
export type DPoPClientErrorCode =
  | 'ERR_DPOP_CLIENT_INSECURE_URL'
  | 'ERR_DPOP_CLIENT_NETWORK'
  | 'ERR_DPOP_CLIENT_NONCE_LOOP'
  | 'ERR_DPOP_CLIENT_NONCE_MISSING'
  | 'ERR_DPOP_CLIENT_TOO_MANY_REDIRECTS'
  | 'ERR_DPOP_CLIENT_KEY_STORE'
  | 'ERR_DPOP_CLIENT_ERROR_RESPONSE'
  | 'ERR_DPOP_CLIENT_INVALID_RESPONSE'
  | 'ERR_DPOP_CLIENT_TOKEN_TYPE'
  | 'ERR_DPOP_CLIENT_STATE_MISMATCH'
  | 'ERR_DPOP_CLIENT_ISSUER_MISMATCH'
  | 'ERR_DPOP_CLIENT_DISCOVERY_FAILED'
  | 'ERR_DPOP_CLIENT_LOGIN_REQUIRED'
  | 'ERR_DPOP_CLIENT_RESOURCE_METADATA'
  | 'ERR_DPOP_CLIENT_RESOURCE_MISMATCH'
  | 'ERR_DPOP_CLIENT_NO_AUTHORIZATION_SERVER'

/**
 * Extra details of a client error (never secrets). */
export interface DPoPClientErrorOptions extends KeyboundErrorOptions {
  /**
   * The HTTP response the failure came from; attached non-enumerably. */
  response?: Response
}

/**
 * Base class of every `@keybound/client` error.
 * @example
 * ```ts
 * try { await tokens.clientCredentials() }
 * catch (error) { if (error instanceof DPoPClientError) console.log(error.code, error.response?.status) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export abstract class DPoPClientError extends KeyboundError {
  /**
   * The stable code of this error. */
  declare readonly code: DPoPClientErrorCode
  /**
   * The HTTP response this error came from (non-enumerable). */
  declare readonly response?: Response

  constructor(message: string, options: DPoPClientErrorOptions = {}) {
    const { response, ...common } = options
    super(message, common)
    // Non-enumerable: a logged or JSON-serialized error does not drag the response (and whatever
    // the server echoed in it) along.
    if (response !== undefined) {
      Object.defineProperty(this, 'response', { value: response, enumerable: false })
    }
  }
}

/**
 * A proof or token was about to go to a plain `http:` URL that is not loopback (RFC 9449 §2).
 * @example
 * ```ts
 * catch (error) { if (error instanceof InsecureRequest) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-2
 */
export class InsecureRequest extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_INSECURE_URL'
}

/**
 * The request did not reach the server or no response came back (the `cause` says why).
 * @example
 * ```ts
 * catch (error) { if (error instanceof NetworkError) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export class NetworkError extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_NETWORK'
}

/**
 * The server asked for a nonce again after the one retry with the nonce it sent (§8, §9).
 * @example
 * ```ts
 * catch (error) { if (error instanceof NonceLoop) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export class NonceLoop extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_NONCE_LOOP'
}

/** The server answered `use_dpop_nonce` without a `DPoP-Nonce` header to use (§8).
 * @example
 * ```ts
 * catch (error) { if (error instanceof NonceMissing) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export class NonceMissing extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_NONCE_MISSING'
}

/** More redirects than allowed while following them with a fresh proof per hop.
 * @example
 * ```ts
 * catch (error) { if (error instanceof TooManyRedirects) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export class TooManyRedirects extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_TOO_MANY_REDIRECTS'
}

/** A key store could not load, create, persist or delete its key.
 * @example
 * ```ts
 * catch (error) { if (error instanceof KeyStoreError) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
 */
export class KeyStoreError extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_KEY_STORE'
}

/**
 * The server answered with an OAuth error response (RFC 6749 §5.2, §4.1.2.1, RFC 9126 §2.3).
 * `error`, `errorDescription` and `errorUri` are the server's values.
 * @example
 * ```ts
 * catch (error) { if (error instanceof OAuthResponseError && error.error === 'invalid_grant') login() }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class OAuthResponseError extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_ERROR_RESPONSE'
  /** The `error` code, e.g. `invalid_grant`, `invalid_dpop_proof`. */
  readonly error: string
  /** The server's `error_description`, if any. */
  readonly errorDescription?: string
  /** The server's `error_uri`, if any. */
  readonly errorUri?: string
  /** HTTP status of the response (absent for authorization-endpoint errors in a callback URL). */
  readonly status?: number

  constructor(
    fields: { error: string; error_description?: string; error_uri?: string; status?: number },
    options: DPoPClientErrorOptions = {},
  ) {
    // The description is the server's text, which does not contain our secrets; the code is safe.
    super(
      fields.error_description === undefined
        ? `OAuth error "${fields.error}"`
        : `OAuth error "${fields.error}": ${fields.error_description}`,
      options,
    )
    this.error = fields.error
    if (fields.error_description !== undefined) this.errorDescription = fields.error_description
    if (fields.error_uri !== undefined) this.errorUri = fields.error_uri
    if (fields.status !== undefined) this.status = fields.status
  }
}

/** A server response was not what the protocol requires (not JSON, a required member missing…).
 * @example
 * ```ts
 * catch (error) { if (error instanceof InvalidResponse) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export class InvalidResponse extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_INVALID_RESPONSE'
}

/** The token response had a `token_type` other than `DPoP`; the tokens were discarded (§5).
 * @example
 * ```ts
 * catch (error) { if (error instanceof TokenTypeMismatch) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export class TokenTypeMismatch extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_TOKEN_TYPE'
}

/** The authorization response's `state` is not the one this client sent (RFC 6749 §10.12).
 * @example
 * ```ts
 * catch (error) { if (error instanceof StateMismatch) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12
 */
export class StateMismatch extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_STATE_MISMATCH'
}

/** The `iss` of an authorization response or metadata is not the expected issuer (RFC 9207, RFC 8414 §3.3).
 * @example
 * ```ts
 * catch (error) { if (error instanceof IssuerMismatch) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9207#section-2.4
 */
export class IssuerMismatch extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_ISSUER_MISMATCH'
}

/** Neither metadata document could be fetched from the issuer (RFC 8414 §3).
 * @example
 * ```ts
 * catch (error) { if (error instanceof DiscoveryFailed) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export class DiscoveryFailed extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_DISCOVERY_FAILED'
}

/** There is no usable access token and no refresh token to get one: the user must log in again.
 * @example
 * ```ts
 * catch (error) { if (error instanceof LoginRequired) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export class LoginRequired extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_LOGIN_REQUIRED'
}

/** The protected-resource metadata a 401 pointed at cannot be used: unreachable, an HTTP
 * error, not a JSON object, or without `resource` or `authorization_servers` (`reason` says).
 * @example
 * ```ts
 * catch (error) { if (error instanceof ResourceMetadataInvalid) console.error(error.reason) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export class ResourceMetadataInvalid extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_RESOURCE_METADATA'
}

/** The protected-resource metadata is about another resource than the one requested, so its
 * authorization servers must not be trusted for it (RFC 9728 §3.3).
 * @example
 * ```ts
 * catch (error) { if (error instanceof ResourceMismatch) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.3
 */
export class ResourceMismatch extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_RESOURCE_MISMATCH'
}

/** None of the authorization servers the resource lists was chosen (`chooseAuthorizationServer`).
 * @example
 * ```ts
 * catch (error) { if (error instanceof NoAuthorizationServer) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export class NoAuthorizationServer extends DPoPClientError {
  static code: DPoPClientErrorCode = 'ERR_DPOP_CLIENT_NO_AUTHORIZATION_SERVER'
}
