/**
 * Express 5 middleware: `app.get('/items', dpop(resourceServer, { scopes: ['read'] }), handler)`.
 * It only translates: Express request in, verdict out, identity on `req.dpop`; a rejection is
 * sent, or handed to `next(err)` with `rejections: 'error'`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/express
 */
import { checkResourceServer } from '../lib/arguments.js'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { renderRejection } from '../challenges.js'
import { RequestRejected } from '../errors.js'
import { checkAdapterOptions } from '../lib/adapter-options.js'
import type { AdapterOptions, ResourceServer, VerifiedIdentity } from '../types.js'
import {
  checkMetadata,
  isMetadataRequest,
  type ProtectedResourceMetadata,
} from '../resource-metadata.js'
import { requestLikeOf, writeHeaders } from './node-headers.js'

declare global {
  // Express types its request in a global namespace; only the namespace form can add to it.
  namespace Express {
    interface Request {
      /**
       * The verified DPoP (or allowed Bearer) identity, set by `dpop()`; `undefined` on an
       * anonymous request to a route with `credentialsRequired: false`.
       */
      dpop?: VerifiedIdentity
    }
  }
}

/**
 * Options of {@link dpop}: the route's requirements and the rejection mode.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export type DPoPOptions<Claims extends object = Record<string, unknown>> = AdapterOptions<Claims>

/**
 * The identity `dpop()` put on `req.dpop`, with its claims typed as `Claims` (a type only:
 * check what you rely on with the `claims.check` route option). `undefined` where `dpop()` did
 * not run or let an anonymous request through.
 *
 * @example
 * ```ts
 * interface TenantClaims extends Record<string, unknown> { tenant: string }
 * app.get('/notes', dpop(resourceServer), (req, res) => {
 *   res.json({ tenant: dpopIdentity<TenantClaims>(req)!.claims.tenant })
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
export function dpopIdentity<Claims extends object = Record<string, unknown>>(
  req: Request,
): VerifiedIdentity<Claims> | undefined {
  return req.dpop as VerifiedIdentity<Claims> | undefined
}

/**
 * Protects Express routes. On success `req.dpop` holds the verified identity and the next
 * handler runs; otherwise the response (401/400/403/503 with its challenge) is sent and nothing
 * else runs. Put it after `cors()`, and after `express.urlencoded()` where form bodies are used
 * (so a token in the body is seen, RFC 6750 §2.2).
 *
 * With `rejections: 'error'` nothing is sent: `next(err)` gets a `RequestRejected` with
 * `status`, `headers` (`WWW-Authenticate`, `DPoP-Nonce`, …) and the RFC `body`, for your error
 * handler to render. With `credentialsRequired: false`, a request without credentials goes on
 * with `req.dpop` unset.
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
export function dpop<Claims extends object = Record<string, unknown>>(
  resourceServer: ResourceServer,
  options: DPoPOptions<Claims> = {},
): RequestHandler {
  checkResourceServer(resourceServer)
  const { route, rejections } = checkAdapterOptions(options)
  return async function dpopMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): Promise<void> {
    const verdict = await resourceServer.verifyRequest<Claims, boolean>(
      requestLikeOf(req, req.originalUrl, req.body),
      route,
    )
    if (verdict.ok) {
      writeHeaders(verdict.responseHeaders, res)
      if (verdict.identity !== undefined) req.dpop = verdict.identity as VerifiedIdentity
      next()
      return
    }
    if (rejections === 'error') {
      next(new RequestRejected(verdict))
      return
    }
    const { status, headers, body } = renderRejection(verdict)
    writeHeaders(headers, res)
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
