/**
 * Express 5 middleware: `app.get('/items', dpop(resourceServer, { scopes: ['read'] }), handler)`.
 * It only translates: Express request in, verdict out, identity on `req.dpop`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/express
 */
import { checkResourceServer } from '../lib/arguments.js'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { renderRejection } from '../challenges.js'
import { checkRouteOptions } from '../resource-server.js'
import {
  checkMetadata,
  isMetadataRequest,
  type ProtectedResourceMetadata,
} from '../resource-metadata.js'
import type { ResourceServer, RouteOptions, VerifiedIdentity } from '../types.js'
import { requestLikeOf, writeHeaders } from './node-headers.js'

declare global {
  // Express types its request in a global namespace; only the namespace form can add to it.
  namespace Express {
    interface Request {
      /** The verified DPoP (or allowed Bearer) identity, set by `dpop()`. */
      dpop?: VerifiedIdentity
    }
  }
}

/**
 * Protects Express routes. On success `req.dpop` holds the verified identity and the next
 * handler runs; otherwise the response (401/400/403/503 with its challenge) is sent and nothing
 * else runs. Put it after `cors()`, and after `express.urlencoded()` where form bodies are used
 * (so a token in the body is seen, RFC 6750 §2.2).
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { dpop } from '@keybound/server/express'
 *
 * const app = express()
 * app.get('/items', dpop(resourceServer, { scopes: ['items:read'] }), (req, res) => {
 *   res.json({ owner: req.dpop!.subject })
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function dpop(resourceServer: ResourceServer, options: RouteOptions = {}): RequestHandler {
  checkResourceServer(resourceServer)
  const routeOptions = { scopes: checkRouteOptions(options) }
  return async function dpopMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): Promise<void> {
    const verdict = await resourceServer.verifyRequest(
      requestLikeOf(req, req.originalUrl, req.body),
      routeOptions,
    )
    const get = (name: string) => res.getHeader(name)
    const set = (name: string, value: string) => void res.setHeader(name, value)
    if (verdict.ok) {
      writeHeaders(verdict.responseHeaders, get, set)
      req.dpop = verdict.identity
      next()
      return
    }
    const { status, headers, body } = renderRejection(verdict)
    writeHeaders(headers, get, set)
    res.status(status).end(body)
  }
}

/**
 * Serves the protected-resource metadata at its well-known path (RFC 9728 §3); every other
 * request goes on to the next handler. Mount it before `cors()` and the routes.
 *
 * @example
 * ```ts
 * import { protectedResourceMetadata } from '@keybound/server/express'
 *
 * app.use(protectedResourceMetadata(metadata))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3
 */
export function protectedResourceMetadata(metadata: ProtectedResourceMetadata): RequestHandler {
  checkMetadata(metadata)
  return function protectedResourceMetadataHandler(req, res, next): void {
    if (!isMetadataRequest(metadata, req.originalUrl)) {
      next()
      return
    }
    const { status, headers, body } = metadata.answer(req.method)
    res.status(status).set(headers).end(body)
  }
}
