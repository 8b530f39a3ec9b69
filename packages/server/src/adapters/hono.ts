/**
 * Hono 4 middleware: `app.get('/items', dpop(resourceServer, { scopes: ['read'] }), handler)`,
 * identity through `c.get('dpop')`. Runs wherever Hono runs (it uses the Web `Request`).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/hono
 */
import type { Context, MiddlewareHandler } from 'hono'
import { renderRejection } from '../challenges.js'
import { mergeHeaderList } from '../lib/header-list.js'
import { checkRouteOptions } from '../resource-server.js'
import type { RequestLike, ResourceServer, RouteOptions, VerifiedIdentity } from '../types.js'

/** The Hono environment this middleware provides: `c.get('dpop')`. */
export interface DPoPEnv {
  Variables: { dpop: VerifiedIdentity }
}

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i

function checkResourceServer(resourceServer: ResourceServer): void {
  if (typeof resourceServer?.verifyRequest !== 'function')
    throw new TypeError('dpop() needs a resource server')
}

// Hono's request URL is absolute and built from `Host`; only the path and query are passed on.
function targetOf(url: string): string {
  const parsed = new URL(url)
  return `${parsed.pathname}${parsed.search}`
}

// RFC 6750 §2.2 form tokens. Hono caches the parsed body, so the handler can still read it.
async function formBodyOf(c: Context): Promise<unknown> {
  const { method } = c.req
  if (method === 'GET' || method === 'HEAD' || !FORM.test(c.req.header('content-type') ?? ''))
    return undefined
  try {
    return await c.req.parseBody({ all: true })
  } catch {
    return undefined
  }
}

function setHeaders(c: Context, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    c.header(
      name,
      name === 'Access-Control-Expose-Headers'
        ? mergeHeaderList(c.res.headers.get(name) ?? undefined, value)
        : value,
    )
  }
}

/**
 * Protects Hono routes. On success `c.get('dpop')` holds the verified identity; otherwise the
 * challenge response is returned and the handler never runs.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { dpop, type DPoPEnv } from '@keybound/server/hono'
 *
 * const app = new Hono<DPoPEnv>()
 * app.get('/items', dpop(resourceServer, { scopes: ['items:read'] }), (c) => c.json({ owner: c.get('dpop').subject }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function dpop(
  resourceServer: ResourceServer,
  options: RouteOptions = {},
): MiddlewareHandler<DPoPEnv> {
  checkResourceServer(resourceServer)
  const routeOptions = { scopes: checkRouteOptions(options) }
  return async function dpopMiddleware(c, next) {
    const request: RequestLike = {
      method: c.req.method,
      url: targetOf(c.req.url),
      headers: c.req.raw.headers,
    }
    const body = await formBodyOf(c)
    if (body !== undefined) request.body = body
    const verdict = await resourceServer.verifyRequest(request, routeOptions)
    if (!verdict.ok) {
      const { status, headers, body: text } = renderRejection(verdict)
      setHeaders(c, headers)
      return text === '' ? c.body(null, status) : c.body(text, status)
    }
    c.set('dpop', verdict.identity)
    await next()
    // After the handler: its response is final, so the headers are added to that response.
    setHeaders(c, verdict.responseHeaders)
    return undefined
  }
}
