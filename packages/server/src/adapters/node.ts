/**
 * Plain `node:http`: `http.createServer(protect(resourceServer, handler, { scopes }))`.
 * It only translates: Node request in, verdict out, identity to the handler.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/node
 */
import { checkFunction, checkResourceServer } from '../lib/arguments.js'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { renderRejection } from '../challenges.js'
import { checkMaxFormBytes, readsFormBody } from '../lib/form-body.js'
import { checkRouteOptions } from '../route-options.js'
import {
  checkMetadata,
  isMetadataRequest,
  type ProtectedResourceMetadata,
} from '../resource-metadata.js'
import type { ResourceServer, RouteOptions, VerifiedIdentity } from '../types.js'
import { requestLikeOf, writeNodeHeaders } from './node-headers.js'

export { requestLikeOf } from './node-headers.js'

/**
 * The identity a protected handler gets: typed claims, and `undefined` only on a route with
 * `credentialsRequired: false` (`CredentialsRequired` is then `false`).
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
export type ProtectedIdentity<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> = CredentialsRequired extends true
  ? VerifiedIdentity<Claims>
  : VerifiedIdentity<Claims> | undefined

/** The request a protected handler gets: the verified identity, and the form body if one was read. */
export type ProtectedRequest<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> = IncomingMessage & {
  dpop: ProtectedIdentity<Claims, CredentialsRequired>
  /** A form-encoded body, read by `protect` to look for an `access_token` (RFC 6750 §2.2). */
  body?: URLSearchParams
}

/** A handler behind {@link protect}; `Claims` types the identity's claims (a type only). */
export type ProtectedHandler<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> = (
  req: ProtectedRequest<Claims, CredentialsRequired>,
  res: ServerResponse,
  identity: ProtectedIdentity<Claims, CredentialsRequired>,
) => unknown

/**
 * Called when a protected handler throws or rejects, after the client got its 500. The default
 * reports the error on `console.error` (see {@link reportHandlerError}); pass your own to route
 * it to your logger or error tracker.
 */
export type HandlerErrorHook<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> = (error: unknown, req: ProtectedRequest<Claims, CredentialsRequired>) => void

/** Options of {@link protect}. */
export interface ProtectOptions<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
> extends RouteOptions<Claims> {
  /**
   * Largest form-encoded body read (default 65,536 bytes); larger ones get 413. A body is only
   * read when a form token could change the verdict (see `needsFormBody`).
   */
  maxFormBytes?: number
  /** Where handler errors go (default {@link reportHandlerError}). */
  onError?: HandlerErrorHook<Claims, CredentialsRequired>
}

/** `Name [code]: message`, and nothing else of the error. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `a non-Error value (${typeof error})`
  const code = (error as { code?: unknown }).code
  return `${error.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${error.message}`
}

/**
 * The default {@link HandlerErrorHook}: one `console.error` line with the method, the path and
 * the error's name, code and message. It leaves out the query string, the headers (the token
 * and the proof) and the error object itself, whose other fields (an HTTP client's request
 * config, say) may carry credentials.
 * @example
 * ```ts
 * protect(resourceServer, handler, { onError: (error, req) => reportHandlerError(error, req) })
 * ```
 */
export function reportHandlerError(error: unknown, req: IncomingMessage): void {
  const path = (req.url ?? '').split('?', 1)[0]
  console.error(
    `keybound: the protected handler failed on ${req.method} ${path}: ${describeError(error)}`,
  )
}

class BodyTooLarge extends Error {}

async function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new BodyTooLarge()
    chunks.push(chunk as Buffer)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function fail(res: ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.statusCode = status
  res.end()
}

// A broken hook must not turn into an unhandled rejection that takes the process down.
function reportSafely<Claims extends object, CredentialsRequired extends boolean>(
  onError: HandlerErrorHook<Claims, CredentialsRequired>,
  error: unknown,
  req: ProtectedRequest<Claims, CredentialsRequired>,
): void {
  try {
    onError(error, req)
  } catch {
    // The client already has its 500; there is nowhere left to report to.
  }
}

/**
 * Wraps a `node:http` handler so it only runs for verified requests. The identity is passed as
 * the third argument and set on `req.dpop`. Form-encoded bodies are read first (to refuse a
 * token sent in the body) and handed over as `req.body`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { protect } from '@keybound/server/node'
 *
 * createServer(protect(resourceServer, (req, res, identity) => {
 *   res.end(`hello ${identity.subject}`)
 * }, { scopes: ['greet'] })).listen(8080)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function protect<
  Claims extends object = Record<string, unknown>,
  CredentialsRequired extends boolean = true,
>(
  resourceServer: ResourceServer,
  handler: ProtectedHandler<Claims, CredentialsRequired>,
  options: ProtectOptions<Claims, CredentialsRequired> & {
    credentialsRequired?: CredentialsRequired
  } = {},
): RequestListener {
  checkResourceServer(resourceServer)
  checkFunction('handler', handler)
  const { maxFormBytes: _maxFormBytes, onError: _onError, ...ownRouteOptions } = options
  const routeOptions = checkRouteOptions<Claims>(ownRouteOptions)
  const maxFormBytes = checkMaxFormBytes(options.maxFormBytes)
  const onError = options.onError ?? reportHandlerError
  checkFunction('onError', onError)
  return function protectedListener(req, res) {
    void (async () => {
      const request = requestLikeOf(req, req.url ?? '')
      let body: URLSearchParams | undefined
      try {
        if (readsFormBody(resourceServer, request, routeOptions))
          request.body = body = await readForm(req, maxFormBytes)
      } catch (error) {
        fail(res, error instanceof BodyTooLarge ? 413 : 400)
        return
      }
      const verdict = await resourceServer.verifyRequest<Claims, boolean>(request, routeOptions)
      if (!verdict.ok) {
        const { status, headers, body: text } = renderRejection(verdict)
        writeNodeHeaders(res, headers)
        res.statusCode = status
        res.end(text)
        return
      }
      writeNodeHeaders(res, verdict.responseHeaders)
      // Anonymous only when the route asked for it, as `ProtectedIdentity` states.
      const identity = verdict.identity as ProtectedIdentity<Claims, CredentialsRequired>
      const protectedRequest = Object.assign(
        req,
        { dpop: identity },
        body === undefined ? {} : { body },
      )
      try {
        await handler(protectedRequest, res, identity)
      } catch (error) {
        fail(res, 500)
        reportSafely(onError, error, protectedRequest)
      }
    })()
  }
}

/**
 * Wraps a `node:http` listener so the protected-resource metadata is answered at its
 * well-known path (RFC 9728 §3); every other request goes to `listener`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { protect, withProtectedResourceMetadata } from '@keybound/server/node'
 *
 * createServer(withProtectedResourceMetadata(metadata, protect(resourceServer, handler))).listen(8080)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3
 */
export function withProtectedResourceMetadata(
  metadata: ProtectedResourceMetadata,
  listener: RequestListener,
): RequestListener {
  checkMetadata(metadata)
  checkFunction('listener', listener)
  return function protectedResourceMetadataListener(req, res) {
    if (!isMetadataRequest(metadata, req.url ?? '')) {
      listener(req, res)
      return
    }
    const { status, headers, body } = metadata.answer(req.method ?? '')
    res.writeHead(status, headers)
    res.end(body)
  }
}
