/**
 * Header rewriting between the client, the gateway and the upstream: hop-by-hop fields are
 * per connection (RFC 9110 §7.6.1) and never forwarded; identity headers are only ever set by
 * the gateway; `Authorization` and `DPoP` go upstream only when the config says so.
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

/** What {@link buildUpstreamHeaders} needs to know, fixed when the gateway is built. */
export interface HeaderPolicy {
  /** Lower-case names of the identity headers: always removed from the client's request. */
  readonly identity: { subject: string; clientId: string; scope: string; jkt: string }
  readonly stripAuthorization: boolean
  readonly trustProxy: boolean
  /** `x-forwarded-proto` / `x-forwarded-host` values, from the public base URL. */
  readonly publicProto: string
  readonly publicHost: string
}

const CLOSE = new Set(['close'])

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
  const out: Record<string, string | string[]> = {}
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue
    if (name === 'host') continue
    // Never let a client speak for the gateway.
    if (name === subject || name === clientId || name === scope || name === jkt) continue
    if (policy.stripAuthorization && (name === 'authorization' || name === 'dpop')) continue
    if (!policy.trustProxy && FORWARDING.has(name)) continue
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

/**
 * The upstream's response headers without hop-by-hop fields, merged with the headers the
 * verdict requires (`DPoP-Nonce`, `Access-Control-Expose-Headers`, …), which win.
 *
 * @example
 * ```ts
 * reply.headers(buildResponseHeaders(upstream.headers, verdict.responseHeaders))
 * ```
 */
export function buildResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  required: Record<string, string> | undefined,
): Record<string, string | string[]> {
  const listed = connectionTokens(upstream.connection)
  const out: Record<string, string | string[]> = {}
  for (const name in upstream) {
    const value = upstream[name]
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue
    out[name] = value
  }
  if (required !== undefined) {
    for (const [field, value] of Object.entries(required)) {
      const name = field.toLowerCase()
      const existing = out[name]
      // The upstream may expose headers of its own; keep them next to the gateway's.
      out[name] =
        name === 'access-control-expose-headers' ? mergeHeaderList(existing, value) : value
    }
  }
  return out
}
