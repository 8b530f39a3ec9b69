/**
 * Plain `node:http`: `http.createServer(protect(resourceServer, handler, { scopes }))`.
 * It only translates: Node request in, verdict out, identity to the handler.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/node
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { renderRejection } from '../challenges.js'
import { checkMaxFormBytes, readsFormBody } from '../lib/form-body.js'
import { checkRouteOptions } from '../resource-server.js'
import type { ResourceServer, RouteOptions, VerifiedIdentity } from '../types.js'
import { requestLikeOf, writeNodeHeaders } from './node-headers.js'

export { requestLikeOf } from './node-headers.js'

/** The request a protected handler gets: the verified identity, and the form body if one was read. */
export type ProtectedRequest = IncomingMessage & {
  dpop: VerifiedIdentity
  /** A form-encoded body, read by `protect` to look for an `access_token` (RFC 6750 §2.2). */
  body?: URLSearchParams
}

/** A handler behind {@link protect}. */
export type ProtectedHandler = (
  req: ProtectedRequest,
  res: ServerResponse,
  identity: VerifiedIdentity,
) => unknown

/** Options of {@link protect}. */
export interface ProtectOptions extends RouteOptions {
  /**
   * Largest form-encoded body read (default 65,536 bytes); larger ones get 413. A body is only
   * read when a form token could change the verdict (see `needsFormBody`).
   */
  maxFormBytes?: number
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
export function protect(
  resourceServer: ResourceServer,
  handler: ProtectedHandler,
  options: ProtectOptions = {},
): RequestListener {
  if (typeof resourceServer?.verifyRequest !== 'function')
    throw new TypeError('protect() needs a resource server')
  if (typeof handler !== 'function') throw new TypeError('protect() needs a handler')
  const routeOptions = { scopes: checkRouteOptions(options) }
  const maxFormBytes = checkMaxFormBytes(options.maxFormBytes)
  return function protectedListener(req, res) {
    void (async () => {
      const request = requestLikeOf(req, req.url ?? '')
      let body: URLSearchParams | undefined
      try {
        if (readsFormBody(resourceServer, request))
          request.body = body = await readForm(req, maxFormBytes)
      } catch (error) {
        fail(res, error instanceof BodyTooLarge ? 413 : 400)
        return
      }
      const verdict = await resourceServer.verifyRequest(request, routeOptions)
      if (!verdict.ok) {
        const { status, headers, body: text } = renderRejection(verdict)
        writeNodeHeaders(res, headers)
        res.statusCode = status
        res.end(text)
        return
      }
      writeNodeHeaders(res, verdict.responseHeaders)
      const protectedRequest = Object.assign(
        req,
        { dpop: verdict.identity },
        body === undefined ? {} : { body },
      )
      try {
        await handler(protectedRequest, res, verdict.identity)
      } catch {
        fail(res, 500)
      }
    })()
  }
}
