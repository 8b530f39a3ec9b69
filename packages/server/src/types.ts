/**
 * The shapes `@keybound/server` speaks: a Web-standard request in, a verdict out.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import type { NonceSource, ReplayStore } from '@keybound/core'

/**
 * The parts of an HTTP request that DPoP covers, in a framework-neutral shape. Adapters build
 * it from their framework's request; `fetch`-style code can pass a `Request` as it is.
 *
 * @example
 * ```ts
 * const verdict = await resourceServer.verifyRequest({
 *   method: req.method,
 *   url: req.url, // '/items?page=2' as received; never used to learn the host
 *   headers: req.headersDistinct,
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export interface RequestLike {
  /** The HTTP method as received (compared case-sensitively with `htm`). */
  method: string
  /**
   * The request target as received: origin-form (`/path?query`) or absolute. Only its path and
   * query are used; the scheme and host come from `publicBaseUrl`.
   */
  url: string
  /**
   * Request headers. Repeated field lines should stay separate (arrays, or the comma-joined
   * value of `Headers`): two `Authorization` or `DPoP` lines must be seen to be refused.
   */
  headers: Headers | Record<string, string | string[] | undefined>
  /**
   * The parsed body, when the framework already parsed an `application/x-www-form-urlencoded`
   * body (an object, `URLSearchParams` or the raw string). Only its `access_token` member is
   * read, to refuse a token sent that way (RFC 6750 §2.2, RFC 9449 §7.2).
   */
  body?: unknown
}

/** Who made a request that passed every check. */
export interface VerifiedIdentity {
  /** The token's `sub`. */
  subject?: string
  /** The token's `client_id`. */
  clientId?: string
  /** The token's scopes (`scope`, space-delimited on the wire). */
  scope: string[]
  /** RFC 7638 thumbprint of the proof key (`cnf.jkt`); the empty string for a Bearer token. */
  jkt: string
  /** Every claim of the access token (JWT claims or the introspection response). */
  claims: Record<string, unknown>
  /** How the token was presented. `Bearer` only when `allowBearer` is on. */
  tokenType: 'DPoP' | 'Bearer'
}

/** Status codes a rejection can carry (RFC 6750 §3.1; 503 when a dependency cannot answer). */
export type RejectionStatus = 400 | 401 | 403 | 503

/**
 * The result of {@link ResourceServer.verifyRequest}. `responseHeaders` are exactly the headers
 * that must go on the wire (`WWW-Authenticate`, `DPoP-Nonce`, `Cache-Control`,
 * `Access-Control-Expose-Headers`), on success too.
 *
 * @example
 * ```ts
 * const verdict = await resourceServer.verifyRequest(request, { scopes: ['read'] })
 * if (!verdict.ok) return new Response(rejectionBody(verdict), { status: verdict.status, headers: verdict.responseHeaders })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export type Verdict =
  | { ok: true; identity: VerifiedIdentity; responseHeaders: Record<string, string> }
  | {
      ok: false
      status: RejectionStatus
      /** RFC 6750 / RFC 9449 error code; empty when no credentials were sent (RFC 6750 §3.1). */
      error: string
      errorDescription?: string
      responseHeaders: Record<string, string>
      /** Stable machine-friendly reason, e.g. `ERR_DPOP_NONCE_REQUIRED` (see README). */
      code?: string
    }

/** A rejection verdict. */
export type Rejection = Extract<Verdict, { ok: false }>

/** Per-route requirements. */
export interface RouteOptions {
  /** Scopes the token must all carry; otherwise 403 `insufficient_scope` (RFC 6750 §3.1). */
  scopes?: readonly string[]
}

/**
 * What an access-token validator learned about a token. Validators throw `AccessTokenInvalid`
 * for a token that must be refused and `AccessTokenUnavailable` when they cannot tell.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 */
export interface AccessTokenInfo {
  /** Every claim (JWT payload or introspection response members). */
  claims: Record<string, unknown>
  subject?: string
  clientId?: string
  scope: string[]
  /** `cnf.jkt`: set when, and only when, the token is DPoP-bound. */
  jkt?: string
  /** When the token expires, in seconds since the epoch (`exp`). */
  expiresAt?: number
}

/**
 * Validates access tokens. Use {@link jwtAccessTokens}, {@link introspectedAccessTokens} or your
 * own object with the same method.
 *
 * @example
 * ```ts
 * const accessTokens: AccessTokenValidator = {
 *   async validate(token) {
 *     const row = await db.tokens.find(sha256(token))
 *     if (row === undefined) throw new AccessTokenInvalid('unknown access token')
 *     return { claims: row.claims, subject: row.sub, scope: row.scope.split(' '), jkt: row.jkt }
 *   },
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 */
export interface AccessTokenValidator {
  /**
   * Resolves with what the token grants, or rejects (`AccessTokenInvalid` refuses the token,
   * `AccessTokenUnavailable` answers 503). `context.tokenHash` is the token's base64url SHA-256
   * (its `ath`), already computed by the resource server, for validators that key a cache by it.
   */
  validate(token: string, context?: ValidationContext): Promise<AccessTokenInfo>
}

/** What the resource server already knows about a token when it asks a validator. */
export interface ValidationContext {
  /** base64url(SHA-256(token)): the token's `ath` (RFC 9449 §4.2). */
  tokenHash: string
}

/** Why a request was accepted or rejected, for metrics and logs. Never contains a token or a proof. */
export type OutcomeEvent =
  | {
      outcome: 'accepted'
      method: string
      /** The request path, without the query (it may carry an `access_token`). */
      path: string
      tokenType: 'DPoP' | 'Bearer'
      jkt: string
      subject?: string
      clientId?: string
      /** True when the response carries a fresh `DPoP-Nonce`. */
      nonceRotated: boolean
    }
  | {
      outcome: 'rejected'
      method: string
      path: string
      status: RejectionStatus
      error: string
      /** The stable reason code, the same as the verdict's `code`. */
      reason: string
      /** The proof field concerned, when the reason came from proof verification. */
      claim?: string
      /** A finer machine-friendly reason from `@keybound/core` (e.g. `stale`, `mismatch`). */
      detail?: string
    }

/**
 * Options of {@link createResourceServer}. Times are in seconds.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface ResourceServerOptions {
  /**
   * The scheme, host and optional path prefix clients use to reach this server, e.g.
   * `https://api.example.com`. The expected `htu` is this plus the request path; `Host` and
   * `X-Forwarded-*` are never consulted unless `trustProxy` is on.
   */
  publicBaseUrl: string
  /**
   * Take the scheme and host from `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host`
   * (falling back to `publicBaseUrl`). Only turn on behind a proxy that overwrites them.
   */
  trustProxy?: boolean
  /** How access tokens are validated. */
  accessTokens: AccessTokenValidator
  /** Where used proofs are recorded (default: a new `MemoryReplayStore`). */
  replayStore?: ReplayStore
  /**
   * Require `DPoP-Nonce` (RFC 9449 §9): a shared secret (the same on every instance, 32+ bytes)
   * or your own `NonceSource`.
   */
  nonces?: { secret: string | Uint8Array; stepSeconds?: number } | NonceSource
  /** Accept unbound Bearer tokens too (default `false`). Bound tokens are never accepted as Bearer. */
  allowBearer?: boolean
  /** Proof algorithms accepted and advertised in `algs` (default: all Keybound supports). */
  algorithms?: readonly string[]
  /** How old a proof's `iat` may be (default 60). */
  maxAge?: number
  /** How far in the future `iat` may be (default 10). */
  clockTolerance?: number
  /**
   * With `nonces` on, also check the `iat` window (`maxAge`, `clockTolerance`) when a valid
   * nonce dates the proof (default `false`: the nonce establishes freshness, RFC 9449 §4.3, so
   * clients with a wrong clock recover).
   */
  requireIat?: boolean
  /**
   * With `nonces` on and `requireIat` off, how far a client's clock may be off (default 86,400,
   * one day). A proof whose `iat` is not within this of the nonce's lifetime (negative, `0`,
   * `1e300`, years away) is refused with `invalid_dpop_proof`, even with a valid nonce.
   */
  maxClockSkew?: number
  /** `realm` for the challenges. */
  realm?: string
  /**
   * Where this resource's protected-resource metadata is served (usually
   * `createProtectedResourceMetadata(...).url`). Every challenge then carries it as
   * `resource_metadata="…"`, so a client can start from a 401 alone (RFC 9728 §5.1).
   */
  resourceMetadataUrl?: string
  /** Called once per verdict; exceptions it throws are ignored. */
  onOutcome?: (event: OutcomeEvent) => void
  /** Accept `http:` base URLs outside loopback (never in production; RFC 9449 §2). */
  allowInsecureHttp?: boolean
  /** Current time in milliseconds (default `Date.now`); for tests. */
  now?: () => number
  /**
   * Check proof signatures on libuv's thread pool instead of the event loop (default `true`):
   * under concurrent load the event loop keeps serving while signatures are checked, which
   * raises throughput on any machine with more than one core. Set `false` on a single core.
   */
  offloadSignature?: boolean
}

/**
 * A configured resource server: one per API.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface ResourceServer {
  /**
   * Checks one request as RFC 9449 §7 and §9 say. Never throws: every failure is a rejection.
   * @example
   * ```ts
   * const verdict = await resourceServer.verifyRequest(request, { scopes: ['read'] })
   * if (verdict.ok) console.log(verdict.identity.subject)
   * ```
   */
  verifyRequest(request: RequestLike, routeOptions?: RouteOptions): Promise<Verdict>
  /** The proof algorithms this server accepts (the `algs` it advertises). */
  readonly algorithms: readonly string[]
  /**
   * Whether the verdict on `request` (given without its body) can depend on a form-encoded
   * `access_token` in the body (RFC 6750 §2.2). Adapters that read bodies themselves ask
   * first, so a request that is refused whatever its body says is answered without reading
   * it. `false` for GET, HEAD and bodies that are not form-encoded; without Bearer tokens
   * allowed, `true` only when the request carries another credential (two methods: 400).
   * Adapters treat a server without this method as always needing the body.
   * @example
   * ```ts
   * if (resourceServer.needsFormBody?.(request) ?? true) request.body = await readForm(req)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.2
   */
  needsFormBody?(request: RequestLike): boolean
}
