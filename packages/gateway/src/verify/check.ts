/**
 * One check of the verify service, independent of the protocol it came in: the proxy tells
 * which method and request target the client used, and passes the client's headers; the answer
 * is an allow (with the headers to set upstream and those owed to the client) or the exact
 * RFC 9449 rejection. The HTTP and gRPC front ends only translate to and from this.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
import { stripQueryAndFragment } from '@keybound/core/internal'
import {
  renderRejection,
  type RequestLike,
  type ResourceServer,
  type VerifiedIdentity,
} from '@keybound/server'
import type { GatewayConfig, RouteConfig } from '../config.js'
import { encodeHeaderValue } from '../lib/headers.js'
import type { Outcome } from '../lib/metrics.js'
import { matchRoute } from '../lib/routes.js'

/** What the proxy said about the client's request. */
export interface CheckRequest {
  /** The client's method, as the proxy forwarded it (`undefined` when missing or repeated). */
  readonly method: string | undefined
  /** The client's request target (`/path?query`), as the proxy forwarded it. */
  readonly target: string | undefined
  /** The client's headers as the proxy passed them on (lower-case names). */
  readonly headers: RequestLike['headers']
}

/** The verdict, ready for a front end to write. */
export interface CheckAnswer {
  /** 200 to allow; otherwise the status the client must get. */
  readonly status: number
  /** On allow: the identity headers (and `Authorization` when rewritten) for the upstream. */
  readonly upstreamHeaders: Record<string, string>
  /** Headers the client must get (`WWW-Authenticate`, `DPoP-Nonce`, `Cache-Control`, …). */
  readonly clientHeaders: Record<string, string>
  /** The body the client must get on a denial ('' for none). */
  readonly body: string
  /** For the metrics and the access log: never a token or a proof. */
  readonly outcome: Outcome
  readonly reason: string
  readonly route?: string
  readonly identity?: VerifiedIdentity
}

/** RFC 9110 §9.1: a method is a token. */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** An origin-form target (RFC 9112 §3.2.1), printable ASCII only. */
const ORIGIN_FORM = /^\/[\x21-\x7E]*$/
const NO_STORE = { 'cache-control': 'no-store' } as const

/** A refusal of the verify service's own (not a verdict of the resource server). */
export function refusal(status: number, error: string, extra: Record<string, string> = {}) {
  return {
    status,
    upstreamHeaders: {},
    clientHeaders: { ...NO_STORE, 'content-type': 'application/json', ...extra },
    body: JSON.stringify({ error }),
    outcome: 'rejected' as const,
    reason: error,
  }
}

/** The token of an `Authorization` that has just been verified (`DPoP <token>`). */
function presentedToken(headers: RequestLike['headers']): string {
  const value = headers instanceof Headers ? headers.get('authorization') : headers['authorization']
  const line = Array.isArray(value) ? value[0] : value
  return (line ?? '').replace(/^\S+\s+/, '').trim()
}

/** The headers an allowed request carries upstream; absent ones are removed by the recipes. */
function upstreamHeadersOf(
  settings: GatewayConfig,
  identity: VerifiedIdentity,
  headers: RequestLike['headers'],
): Record<string, string> {
  const names = settings.identityHeaders
  const out: Record<string, string> = {}
  if (identity.subject !== undefined) out[names.subject] = encodeHeaderValue(identity.subject)
  if (identity.clientId !== undefined) out[names.clientId] = encodeHeaderValue(identity.clientId)
  out[names.scope] = encodeHeaderValue(identity.scope.join(' '))
  if (identity.jkt !== '') out[names.jkt] = identity.jkt
  if (settings.verify.upstreamAuthorization === 'bearer')
    out.authorization = `Bearer ${presentedToken(headers)}`
  return out
}

/** Lower-cases the names of the verdict's headers, which are written in their RFC spelling. */
function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value
  return out
}

/**
 * Builds the check function of one verify service.
 * @example
 * ```ts
 * const check = createCheck(config, resourceServer)
 * const answer = await check({ method: 'GET', target: '/items/1', headers })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function createCheck(
  settings: GatewayConfig,
  resourceServer: ResourceServer,
): (request: CheckRequest) => Promise<CheckAnswer> {
  const routeScopes = new Map<RouteConfig, { scopes: readonly string[] }>(
    settings.routes.map((route) => [route, { scopes: route.scopes }]),
  )
  return async function check(request) {
    const { method, target } = request
    if (method === undefined || !METHOD.test(method))
      return refusal(400, 'invalid_check_request', { 'x-keybound-reason': 'method' })
    if (target === undefined || !ORIGIN_FORM.test(target))
      return refusal(400, 'invalid_check_request', { 'x-keybound-reason': 'uri' })
    const match = matchRoute(
      settings.routes,
      method,
      stripQueryAndFragment(target),
      settings.paths.semicolons,
    )
    if (match.kind === 'bad-path') return refusal(400, 'invalid_path')
    if (match.kind === 'no-route') return refusal(404, 'not_found')
    if (match.kind === 'method')
      return refusal(405, 'method_not_allowed', { allow: match.allow.join(', ') })
    const route = match.route
    if (route.public)
      return {
        status: 200,
        upstreamHeaders: {},
        clientHeaders: {},
        body: '',
        outcome: 'public',
        reason: '',
        route: route.pattern,
      }
    const verdict = await resourceServer.verifyRequest(
      { method, url: target, headers: request.headers },
      routeScopes.get(route),
    )
    if (!verdict.ok) {
      const rejection = renderRejection(verdict)
      return {
        status: rejection.status,
        upstreamHeaders: {},
        // Exactly the resource server's headers, as the gateway and the adapters send them.
        clientHeaders: lowerCased(rejection.headers),
        body: rejection.body,
        outcome: 'rejected',
        reason: verdict.code ?? (verdict.error || 'no_credentials'),
        route: route.pattern,
      }
    }
    return {
      status: 200,
      upstreamHeaders: upstreamHeadersOf(settings, verdict.identity, request.headers),
      clientHeaders: lowerCased(verdict.responseHeaders),
      body: '',
      outcome: 'accepted',
      reason: '',
      route: route.pattern,
      identity: verdict.identity,
    }
  }
}
