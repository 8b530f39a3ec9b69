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

/**
 * Who made a request that passed every check. `Claims` types `claims` for the route's code; it
 * is a type, not a check: pair it with a `claims.check` route option that tests what the code
 * relies on (RFC 9068 §2.2 lists the claims an issuer must send, not their values).
 *
 * @example
 * ```ts
 * interface TenantClaims extends Record<string, unknown> { tenant: string }
 * function ownerOf(identity: VerifiedIdentity<TenantClaims>): string {
 *   return identity.claims.tenant
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
export interface VerifiedIdentity<Claims extends object = Record<string, unknown>> {
  /** The token's `sub`. */
  subject?: string
  /** The token's `client_id`. */
  clientId?: string
  /** The token's scopes (`scope`, space-delimited on the wire). */
  scope: string[]
  /** RFC 7638 thumbprint of the proof key (`cnf.jkt`); the empty string for a Bearer token. */
  jkt: string
  /** Every claim of the access token (JWT claims or the introspection response). */
  claims: Claims
  /** How the token was presented. `Bearer` only when `allowBearer` is on. */
  tokenType: 'DPoP' | 'Bearer'
}

/** Status codes a rejection can carry (RFC 6750 §3.1; 503 when a dependency cannot answer). */
export type RejectionStatus = 400 | 401 | 403 | 503

/**
 * The result of {@link ResourceServer.verifyRequest}. `responseHeaders` are exactly the headers
 * that must go on the wire (`WWW-Authenticate`, `DPoP-Nonce`, `Cache-Control`,
 * `Access-Control-Expose-Headers`), on success too. `Claims` types the identity's claims;
 * `CredentialsRequired` is `false` when the route was asked with `credentialsRequired: false`,
 * and only then can an accepted verdict carry no identity ({@link AnonymousAcceptance}).
 *
 * @example
 * ```ts
 * const verdict = await resourceServer.verifyRequest(request, { scopes: ['read'] })
 * if (!verdict.ok) return new Response(rejectionBody(verdict), { status: verdict.status, headers: verdict.responseHeaders })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export type Verdict<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> =
  Acceptance<Claims> | (CredentialsRequired extends true ? never : AnonymousAcceptance) | Rejection

/**
 * An accepted request: every check passed.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export interface Acceptance<Claims extends object = Record<string, unknown>> {
  ok: true
  identity: VerifiedIdentity<Claims>
  responseHeaders: Record<string, string>
}

/**
 * A request without any credentials on a route with `credentialsRequired: false`: it goes on
 * with no identity (RFC 6750 §3.1 leaves unauthenticated access to the resource's policy).
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface AnonymousAcceptance {
  ok: true
  identity: undefined
  responseHeaders: Record<string, string>
}

/**
 * A rejected request: the status, error and headers to send.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface Rejection {
  ok: false
  status: RejectionStatus
  /** RFC 6750 / RFC 9449 error code; empty when no credentials were sent (RFC 6750 §3.1). */
  error: string
  errorDescription?: string
  responseHeaders: Record<string, string>
  /** Stable machine-friendly reason, e.g. `ERR_DPOP_NONCE_REQUIRED` (see README). */
  code?: string
}

/**
 * A claim value `claims.equals` can compare with (JSON scalars, compared with `===`).
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4
 */
export type ClaimValue = string | number | boolean | null

/**
 * Checks on the access token's claims, all of which must pass; a failure is 403
 * `insufficient_scope` without a `scope` attribute (D26, docs/adr/0037). The counterpart of
 * express-oauth2-jwt-bearer's `claimEquals`, `claimIncludes` and `claimCheck`.
 *
 * @example
 * ```ts
 * const claims: ClaimRequirements<{ tenant?: string; roles?: string[] }> = {
 *   equals: { tenant: 'acme' },
 *   includes: { roles: ['editor'] },
 *   check: (claims) => claims.tenant !== undefined,
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface ClaimRequirements<Claims extends object = Record<string, unknown>> {
  /** Each named claim must be exactly this value. */
  equals?: Readonly<Record<string, ClaimValue>>
  /**
   * Each named claim must contain every listed value: an array of strings, or a string of
   * space-separated values (the shape of `scope`, RFC 6749 §3.3).
   */
  includes?: Readonly<Record<string, readonly string[]>>
  /**
   * Your own test; `true` passes. A predicate that throws or rejects counts as a failure
   * (fail closed).
   */
  check?: (claims: Claims) => boolean | Promise<boolean>
}

/**
 * Per-route requirements. `checkRouteOptions` validates them when a middleware is built.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface RouteOptions<Claims extends object = Record<string, unknown>> {
  /** Scopes the token must carry; otherwise 403 `insufficient_scope` (RFC 6750 §3.1). */
  scopes?: readonly string[]
  /**
   * `all` (default): every scope in `scopes` is needed; `any`: one of them is enough. The
   * challenge's `scope` attribute lists them all either way.
   */
  scopeMatch?: 'all' | 'any'
  /** Checks on the token's claims (see {@link ClaimRequirements}). */
  claims?: ClaimRequirements<Claims>
  /**
   * `false`: a request with no `Authorization`, no `DPoP` header and no `access_token` in the
   * query or form body goes on with no identity.
   * Credentials that are present are still checked in full and refused when bad (D28).
   * Default `true`.
   */
  credentialsRequired?: boolean
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
      /** No credentials on a route with `credentialsRequired: false`. */
      outcome: 'anonymous'
      method: string
      path: string
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
   * `routeOptions` are validated on every call; adapters validate them once at start-up.
   * @example
   * ```ts
   * const verdict = await resourceServer.verifyRequest(request, { scopes: ['read'] })
   * if (verdict.ok) console.log(verdict.identity.subject)
   * ```
   */
  verifyRequest<
    Claims extends object = Record<string, unknown>,
    CredentialsRequired extends boolean = true,
  >(
    request: RequestLike,
    routeOptions?: RouteOptions<Claims> & { credentialsRequired?: CredentialsRequired },
  ): Promise<Verdict<Claims, CredentialsRequired>>
  /** The proof algorithms this server accepts (the `algs` it advertises). */
  readonly algorithms: readonly string[]
  /**
   * Whether the verdict on `request` (given without its body) can depend on a form-encoded
   * `access_token` in the body (RFC 6750 §2.2). Adapters that read bodies themselves ask
   * first, so a request that is refused whatever its body says is answered without reading
   * it. `false` for GET, HEAD and bodies that are not form-encoded; without Bearer tokens
   * allowed, `true` only when the request carries another credential (two methods: 400) or
   * the route has `credentialsRequired: false` (a form token must not pass as anonymous).
   * Adapters treat a server without this method as always needing the body.
   * @example
   * ```ts
   * if (resourceServer.needsFormBody?.(request) ?? true) request.body = await readForm(req)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.2
   */
  needsFormBody?(
    request: RequestLike,
    routeOptions?: Pick<RouteOptions, 'credentialsRequired'>,
  ): boolean
}

/**
 * What an adapter does with a rejection: `respond` (default) sends the RFC response itself;
 * `error` hands a `RequestRejected` to the framework's error path (Express `next(err)`, a
 * Hono `HTTPException`, a Fastify error for `setErrorHandler`) so the application renders it.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export type RejectionMode = 'respond' | 'error'

/**
 * Options every framework adapter takes: the route's requirements plus the rejection mode.
 * @example
 * ```ts
 * const options: AdapterOptions = { scopes: ['read'], rejections: 'error' }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export interface AdapterOptions<
  Claims extends object = Record<string, unknown>,
> extends RouteOptions<Claims> {
  /** See {@link RejectionMode}; default `respond`. */
  rejections?: RejectionMode
}
