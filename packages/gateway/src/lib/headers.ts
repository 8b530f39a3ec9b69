/**
 * Header rewriting between the client, the gateway and the upstream: hop-by-hop fields are
 * per connection (RFC 9110 §7.6.1) and never forwarded; identity headers are only ever set by
 * the gateway; `Authorization` and `DPoP` go upstream only when the config says so; headers
 * that would make the upstream run another method or path than the one checked are dropped.
 *
 * CGI, WSGI, Rack and PHP upstreams see header names with `-` turned into `_`
 * (`X_Keybound_Subject` and `X-Keybound-Subject` both become `HTTP_X_KEYBOUND_SUBJECT`), so
 * every name is also compared with its `_` read as `-`.
 */
import { mergeHeaderList, type VerifiedIdentity } from '@keybound/server'

/** Per-connection fields (RFC 9110 §7.6.1), plus `expect`, which the gateway answers itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
])

/** Fields that tell the upstream who the client is; only trusted from a proxy in front. */
const FORWARDING = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
])

/**
 * Fields that ask an upstream framework to run another method (`X-HTTP-Method-Override` and
 * kin: Rails, Express `method-override`, Spring's `HiddenHttpMethodFilter` family) or to serve
 * another path (`X-Original-URL`, `X-Rewrite-URL`: IIS and Symfony; `X-Forwarded-Prefix`:
 * Spring). The gateway checked the route, the scopes and the proof's `htm`/`htu` against the
 * request line, so these would let a client step around that check.
 */
export const OVERRIDE_HEADERS: readonly string[] = [
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
  'x-forwarded-prefix',
]

/** What the gateway's config says about request headers. */
export interface HeaderSettings {
  /** Lower-case names of the identity headers: always removed from the client's request. */
  readonly identity: { subject: string; clientId: string; scope: string; jkt: string }
  readonly stripAuthorization: boolean
  readonly trustProxy: boolean
  /** Drop the {@link OVERRIDE_HEADERS} (and their `_` spellings). */
  readonly stripOverrides: boolean
  /** Drop every header whose name contains `_`, not only those that read as a reserved name. */
  readonly dropAllUnderscores: boolean
  /** `x-forwarded-proto` / `x-forwarded-host` values, from the public base URL. */
  readonly publicProto: string
  readonly publicHost: string
}

/** What {@link buildUpstreamHeaders} needs to know, fixed when the gateway is built. */
export interface HeaderPolicy extends HeaderSettings {
  /** The reserved names of these settings, in their `-` spelling. */
  readonly reserved: ReadonlySet<string>
}

const CLOSE = new Set(['close'])

/**
 * The names, in their `-` spelling, that a client may never send under another spelling: the
 * identity headers, the forwarding headers (the gateway writes its own), the hop-by-hop fields
 * and, when stripped, the override headers.
 */
function reservedNames(settings: HeaderSettings): ReadonlySet<string> {
  const names = [
    ...Object.values(settings.identity),
    ...FORWARDING,
    ...HOP_BY_HOP,
    ...(settings.stripOverrides ? OVERRIDE_HEADERS : []),
  ]
  return new Set(names.map(dashed))
}

/**
 * Fixes the header policy of one gateway (the reserved names are worked out once).
 * @example
 * ```ts
 * const policy = createHeaderPolicy({ identity, stripAuthorization: true, trustProxy: false,
 *   stripOverrides: true, dropAllUnderscores: false, publicProto: 'https', publicHost: 'api.example.com' })
 * ```
 */
export function createHeaderPolicy(settings: HeaderSettings): HeaderPolicy {
  return { ...settings, reserved: reservedNames(settings) }
}

/** A header name as a CGI-style upstream reads it, with `_` and `-` the same. */
function dashed(name: string): string {
  return name.replace(/_/g, '-')
}

/** Names listed in `Connection` are hop-by-hop for this message too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined
  // The two values nearly every message carries, without a split and a new set each time
  // (`keep-alive` is hop-by-hop already).
  const only = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value
  if (only === 'keep-alive') return undefined
  if (only === 'close') return CLOSE
  const tokens = new Set<string>()
  for (const line of Array.isArray(value) ? value : [value])
    for (const token of line.split(',')) {
      const name = token.trim().toLowerCase()
      if (name !== '') tokens.add(name)
    }
  return tokens
}

/**
 * Identity values come from a signed token, but may still hold characters a header cannot
 * carry. `%` and anything outside printable ASCII are percent-encoded (UTF-8), so the value is
 * unambiguous and can never split a header.
 */
export function encodeHeaderValue(value: string): string {
  return /^[\x20-\x24\x26-\x7E]*$/.test(value)
    ? value
    : encodeURIComponent(value).replace(/%20/g, ' ')
}

/**
 * The headers to send upstream, from the client's (`headersDistinct`: one array per name).
 *
 * @example
 * ```ts
 * const headers = buildUpstreamHeaders(req.headersDistinct, policy, identity, '127.0.0.1')
 * ```
 */
export function buildUpstreamHeaders(
  incoming: Record<string, string[] | undefined>,
  policy: HeaderPolicy,
  identity: VerifiedIdentity | undefined,
  remoteAddress: string | undefined,
): Record<string, string | string[]> {
  const listed = connectionTokens(incoming.connection)
  const { subject, clientId, scope, jkt } = policy.identity
  const reserved = policy.reserved
  const out: Record<string, string | string[]> = {}
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue
    if (name === 'host') continue
    if (name.includes('_')) {
      // Another spelling of a reserved name is never the real one: dropped even where the
      // real one is kept (trusted forwarding headers), as the proxy in front only rewrites that.
      if (policy.dropAllUnderscores || reserved.has(dashed(name))) continue
    } else if (reserved.has(name) && !(policy.trustProxy && FORWARDING.has(name))) {
      // Never let a client speak for the gateway (identity, overrides, forwarding).
      continue
    }
    if (policy.stripAuthorization && (name === 'authorization' || name === 'dpop')) continue
    out[name] = value.length === 1 ? value[0]! : value
  }
  const forwardedFor = policy.trustProxy ? incoming['x-forwarded-for'] : undefined
  if (remoteAddress !== undefined)
    out['x-forwarded-for'] =
      forwardedFor === undefined ? remoteAddress : `${forwardedFor.join(', ')}, ${remoteAddress}`
  if (!policy.trustProxy || incoming['x-forwarded-proto'] === undefined)
    out['x-forwarded-proto'] = policy.publicProto
  if (!policy.trustProxy || incoming['x-forwarded-host'] === undefined)
    out['x-forwarded-host'] = policy.publicHost
  if (identity !== undefined) {
    if (identity.subject !== undefined) out[subject] = encodeHeaderValue(identity.subject)
    if (identity.clientId !== undefined) out[clientId] = encodeHeaderValue(identity.clientId)
    out[scope] = encodeHeaderValue(identity.scope.join(' '))
    if (identity.jkt !== '') out[jkt] = identity.jkt
  }
  return out
}

/** Response fields holding a list, where the gateway adds names instead of replacing them. */
const LIST_FIELDS = new Set(['access-control-expose-headers', 'vary'])

/** What an upstream grants for CORS; on a route with the gateway's own `cors`, its word wins. */
const CORS_GRANTS = new Set([
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
  'access-control-expose-headers',
])

/**
 * `added` set on `headers` (names lower-cased): list fields (`Vary`,
 * `Access-Control-Expose-Headers`) keep the names already there, others are replaced.
 *
 * @example
 * ```ts
 * mergeResponseHeaders({ vary: 'Accept' }, { Vary: 'Origin' }) // { vary: 'Accept, Origin' }
 * ```
 */
export function mergeResponseHeaders(
  headers: Record<string, string | string[]>,
  added: Record<string, string> | undefined,
): Record<string, string | string[]> {
  if (added === undefined) return headers
  // for-in: the verdict's headers are usually none, and then nothing is allocated.
  for (const field in added) {
    const value = added[field]!
    const name = field.toLowerCase()
    headers[name] = LIST_FIELDS.has(name) ? mergeHeaderList(headers[name], value) : value
  }
  return headers
}

/**
 * The upstream's response headers without hop-by-hop fields, merged with the headers the
 * verdict requires (`DPoP-Nonce`, `Access-Control-Expose-Headers`, …), which win, and with the
 * route's CORS headers, which replace any CORS grant of the upstream's.
 *
 * @example
 * ```ts
 * reply.headers(buildResponseHeaders(upstream.headers, verdict.responseHeaders, cors))
 * ```
 */
export function buildResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  required: Record<string, string> | undefined,
  cors?: Record<string, string>,
): Record<string, string | string[]> {
  const listed = connectionTokens(upstream.connection)
  const out: Record<string, string | string[]> = {}
  for (const name in upstream) {
    const value = upstream[name]
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue
    if (cors !== undefined && CORS_GRANTS.has(name)) continue
    out[name] = value
  }
  // The upstream may expose headers of its own; keep them next to the gateway's.
  return mergeResponseHeaders(mergeResponseHeaders(out, required), cors)
}
