/**
 * CORS for browser DPoP clients (RFC 9449 §7.1 and §8 name the headers a browser must send
 * and read). A call from another origin with `Authorization` and `DPoP` is preceded by a
 * preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`, never with
 * credentials), which the gateway answers itself from the route's `cors` setting: it never
 * reaches the upstream and never meets the token check. Actual responses on such a route,
 * refusals included, carry the grant, so a page can read `WWW-Authenticate` and `DPoP-Nonce`.
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 */

/** A route's CORS policy, resolved from the config. */
export interface CorsPolicy {
  /** Exact origins (`https://app.example.com`) allowed to call; empty when `anyOrigin`. */
  readonly origins: ReadonlySet<string>
  /** `origins: ['*']`: any origin (credentials are then refused by the config loader). */
  readonly anyOrigin: boolean
  /** Lower-case request header names a preflight may ask for: `authorization`, `dpop`, … */
  readonly allowHeaders: ReadonlySet<string>
  /** The `Access-Control-Allow-Headers` value. */
  readonly allowHeadersValue: string
  /** The `Access-Control-Expose-Headers` value: `WWW-Authenticate, DPoP-Nonce` and more. */
  readonly exposeHeadersValue: string
  readonly maxAgeSeconds: number
  /** Send `Access-Control-Allow-Credentials: true` (cookies; DPoP itself needs none). */
  readonly credentials: boolean
}

/** Request headers a DPoP call needs (RFC 9449 §7.1). */
export const DPOP_REQUEST_HEADERS = ['Authorization', 'DPoP'] as const
/** Response headers a DPoP client must read (RFC 9449 §7.1, §8, §9). */
export const DPOP_EXPOSED_HEADERS = ['WWW-Authenticate', 'DPoP-Nonce'] as const

const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'

/** The preflight's decision, with the headers to answer with. */
export interface PreflightAnswer {
  readonly ok: boolean
  readonly headers: Record<string, string>
}

function isAllowedOrigin(policy: CorsPolicy, origin: string): boolean {
  return policy.anyOrigin || policy.origins.has(origin)
}

/**
 * Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
 * `Access-Control-Request-Method` (a plain `OPTIONS` call is an ordinary request).
 */
export function isPreflight(
  method: string,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  return (
    method === 'OPTIONS' &&
    typeof headers.origin === 'string' &&
    typeof headers['access-control-request-method'] === 'string'
  )
}

/** The header names a preflight asks for, lower-cased. */
function requestedHeaders(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '')
}

/**
 * Answers a preflight for a route with CORS: granted when the origin is allowed and every
 * requested header is in the route's list; the methods granted are the route's (or the one
 * requested, for a route open to any method).
 *
 * @example
 * ```ts
 * const answer = answerPreflight(route.cors, 'https://app.example', 'GET', 'authorization, dpop', route.methods)
 * reply.code(answer.ok ? 204 : 403).headers(answer.headers)
 * ```
 */
export function answerPreflight(
  policy: CorsPolicy,
  origin: string,
  method: string,
  requested: string | string[] | undefined,
  routeMethods: readonly string[] | undefined,
): PreflightAnswer {
  const vary = { vary: PREFLIGHT_VARY }
  if (!isAllowedOrigin(policy, origin)) return { ok: false, headers: vary }
  if (!requestedHeaders(requested).every((name) => policy.allowHeaders.has(name)))
    return { ok: false, headers: vary }
  return {
    ok: true,
    headers: {
      ...vary,
      'access-control-allow-origin': origin,
      'access-control-allow-methods': routeMethods?.join(', ') ?? method,
      'access-control-allow-headers': policy.allowHeadersValue,
      'access-control-max-age': String(policy.maxAgeSeconds),
      ...(policy.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
    },
  }
}

/**
 * The CORS headers of an actual response on a route with CORS: the grant for an allowed
 * origin, and `Vary: Origin` always, so a cache never hands one origin's answer to another.
 *
 * @example
 * ```ts
 * corsResponseHeaders(route.cors, request.headers.origin)
 * // { vary: 'Origin', 'access-control-allow-origin': 'https://app.example', … }
 * ```
 */
export function corsResponseHeaders(
  policy: CorsPolicy,
  origin: string | undefined,
): Record<string, string> {
  if (origin === undefined || !isAllowedOrigin(policy, origin)) return { vary: 'Origin' }
  return {
    vary: 'Origin',
    'access-control-allow-origin': origin,
    'access-control-expose-headers': policy.exposeHeadersValue,
    ...(policy.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
  }
}
