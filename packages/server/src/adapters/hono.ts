/**
 * Hono 4 middleware: `app.get('/items', dpop(resourceServer, { scopes: ['read'] }), handler)`,
 * identity through `c.get('dpop')`. Runs wherever Hono runs (it uses the Web `Request`). A
 * rejection is returned, or thrown as an `HTTPException` with `rejections: 'error'`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/hono
 */
import { checkResourceServer } from '../lib/arguments.js'
import type { Context, MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { renderRejection } from '../challenges.js'
import { RequestRejected } from '../errors.js'
import { checkAdapterOptions } from '../lib/adapter-options.js'
import { checkMaxFormBytes, readsFormBody } from '../lib/form-body.js'
import { mergeHeaderList } from '../lib/header-list.js'
import type {
  AdapterOptions,
  Rejection,
  RequestLike,
  ResourceServer,
  VerifiedIdentity,
} from '../types.js'
import {
  checkMetadata,
  isMetadataRequest,
  type ProtectedResourceMetadata,
} from '../resource-metadata.js'

/**
 * The Hono environment this middleware provides: `c.get('dpop')`, with claims typed as
 * `Claims` (a type only: check what you rely on with `claims.check`). On a route with
 * `credentialsRequired: false` (`CredentialsRequired` is then `false`) it may be `undefined`.
 */
export interface DPoPEnv<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> {
  Variables: {
    dpop: CredentialsRequired extends true
      ? VerifiedIdentity<Claims>
      : VerifiedIdentity<Claims> | undefined
  }
}

/** Options of {@link dpop}. */
export interface DPoPOptions<
  Claims extends object = Record<string, unknown>,
> extends AdapterOptions<Claims> {
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

// `rejections: 'error'`: the exact response the default would send rides on the exception, so
// Hono's default `onError` still sends it, and `app.onError` can render the `cause` instead.
function rejectionException(rejection: Rejection): HTTPException {
  const { status, headers, body } = renderRejection(rejection)
  const cause = new RequestRejected(rejection)
  return new HTTPException(status, {
    res: new Response(body === '' ? null : body, { status, headers }),
    message: cause.message,
    cause,
  })
}

/**
 * Protects Hono routes. On success `c.get('dpop')` holds the verified identity; otherwise the
 * challenge response is returned and the handler never runs. With `rejections: 'error'` the
 * middleware throws an `HTTPException` instead: its `getResponse()` is the exact RFC response
 * and its `cause` a `RequestRejected` (`status`, `headers`, RFC `body`) for `app.onError`.
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
export function dpop<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
>(
  resourceServer: ResourceServer,
  options: DPoPOptions<Claims> & { credentialsRequired?: CredentialsRequired } = {},
): MiddlewareHandler<DPoPEnv<Claims, CredentialsRequired>> {
  checkResourceServer(resourceServer)
  const { route, rejections } = checkAdapterOptions(options, ['maxFormBytes'])
  const maxFormBytes = checkMaxFormBytes(options.maxFormBytes)
  return async function dpopMiddleware(c, next) {
    const request: RequestLike = {
      method: c.req.method,
      url: targetOf(c.req.url),
      headers: c.req.raw.headers,
    }
    if (readsFormBody(resourceServer, request, route)) {
      const body = await readFormText(c.req.raw, maxFormBytes)
      if (typeof body !== 'string') {
        if (rejections === 'error') throw new HTTPException(body)
        return c.body(null, body)
      }
      request.body = body
    }
    const verdict = await resourceServer.verifyRequest<Claims, boolean>(request, route)
    if (!verdict.ok) {
      if (rejections === 'error') throw rejectionException(verdict)
      const { status, headers, body: text } = renderRejection(verdict)
      setHeaders(c, headers)
      return text === '' ? c.body(null, status) : c.body(text, status)
    }
    // Hono's `c.set` is typed by the environment; the verdict matches it by construction.
    if (verdict.identity !== undefined) c.set('dpop', verdict.identity as never)
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
