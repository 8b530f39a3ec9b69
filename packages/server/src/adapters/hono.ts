/**
 * Hono 4 middleware: `app.get('/items', dpop(resourceServer, { scopes: ['read'] }), handler)`,
 * identity through `c.get('dpop')`. Runs wherever Hono runs (it uses the Web `Request`).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/hono
 */
import { checkResourceServer } from '../lib/arguments.js'
import type { Context, MiddlewareHandler } from 'hono'
import { renderRejection } from '../challenges.js'
import { checkMaxFormBytes, readsFormBody } from '../lib/form-body.js'
import { mergeHeaderList } from '../lib/header-list.js'
import { checkRouteOptions } from '../resource-server.js'
import {
  checkMetadata,
  isMetadataRequest,
  type ProtectedResourceMetadata,
} from '../resource-metadata.js'
import type { RequestLike, ResourceServer, RouteOptions, VerifiedIdentity } from '../types.js'

/** The Hono environment this middleware provides: `c.get('dpop')`. */
export interface DPoPEnv {
  Variables: { dpop: VerifiedIdentity }
}

/** Options of {@link dpop}. */
export interface DPoPOptions extends RouteOptions {
  /**
   * Largest form-encoded body read (default 65,536 bytes); larger ones get 413 before anything
   * else. A body is only read when a form token could change the verdict (`needsFormBody`).
   */
  maxFormBytes?: number
}

/** A form body that cannot be read: too large (413) or broken off (400). */
type Unreadable = 400 | 413
const TOO_LARGE: Unreadable = 413
const BROKEN: Unreadable = 400

// Hono's request URL is absolute and built from `Host`; only the path and query are passed on.
function targetOf(url: string): string {
  const parsed = new URL(url)
  return `${parsed.pathname}${parsed.search}`
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

// RFC 6750 §2.2 form tokens, read from a clone so the handler can still read the body. At most
// `limit` bytes: a larger declared or streamed body is refused (413) without reading the rest.
async function readFormText(raw: Request, limit: number): Promise<string | Unreadable> {
  const declared = raw.headers.get('content-length')
  if (declared !== null && Number(declared) > limit) return TOO_LARGE
  const stream = raw.clone().body
  if (stream === null) return ''
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (let read = await reader.read(); read.done !== true; read = await reader.read()) {
      size += read.value.byteLength
      if (size > limit) {
        await reader.cancel()
        return TOO_LARGE
      }
      chunks.push(read.value)
    }
    return new TextDecoder().decode(concat(chunks, size))
  } catch {
    return BROKEN
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
  options: DPoPOptions = {},
): MiddlewareHandler<DPoPEnv> {
  checkResourceServer(resourceServer)
  const routeOptions = { scopes: checkRouteOptions(options) }
  const maxFormBytes = checkMaxFormBytes(options.maxFormBytes)
  return async function dpopMiddleware(c, next) {
    const request: RequestLike = {
      method: c.req.method,
      url: targetOf(c.req.url),
      headers: c.req.raw.headers,
    }
    if (readsFormBody(resourceServer, request)) {
      const body = await readFormText(c.req.raw, maxFormBytes)
      if (typeof body !== 'string') return c.body(null, body)
      request.body = body
    }
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

/**
 * Serves the protected-resource metadata at its well-known path (RFC 9728 §3); every other
 * request goes on to the next handler.
 *
 * @example
 * ```ts
 * import { protectedResourceMetadata } from '@keybound/server/hono'
 *
 * app.use(protectedResourceMetadata(metadata))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3
 */
export function protectedResourceMetadata(metadata: ProtectedResourceMetadata): MiddlewareHandler {
  checkMetadata(metadata)
  return async function protectedResourceMetadataMiddleware(c, next) {
    if (!isMetadataRequest(metadata, c.req.url)) {
      await next()
      return undefined
    }
    const { status, headers, body } = metadata.answer(c.req.method)
    return new Response(body === '' ? null : body, { status, headers })
  }
}
