/**
 * Fastify 5: a plugin that decorates requests with `dpop`, and a route-level `preHandler`
 * factory. It only translates: Fastify request in, verdict out, identity on `request.dpop`; a
 * rejection is sent, or thrown to `setErrorHandler` with `rejections: 'error'`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server/fastify
 */
import { checkResourceServer } from '../lib/arguments.js'
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify'
import { renderRejection } from '../challenges.js'
import { RequestRejected } from '../errors.js'
import { checkAdapterOptions } from '../lib/adapter-options.js'
import type { AdapterOptions, ResourceServer, VerifiedIdentity } from '../types.js'
import { checkMetadata, type ProtectedResourceMetadata } from '../resource-metadata.js'
import { requestLikeOf, writeHeaders } from './node-headers.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified identity on protected routes; `null` elsewhere and on an anonymous request
     * to a route with `credentialsRequired: false`.
     */
    dpop: VerifiedIdentity | null
  }
  interface FastifyInstance {
    /** A `preHandler` for the plugin's resource server (see {@link dpopPreHandler}). */
    dpop<Claims extends object = Record<string, unknown>>(
      options?: DPoPPreHandlerOptions<Claims>,
    ): preHandlerAsyncHookHandler
  }
}

/**
 * Options of {@link dpopPreHandler}: the route's requirements and the rejection mode.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export type DPoPPreHandlerOptions<Claims extends object = Record<string, unknown>> =
  AdapterOptions<Claims>

/**
 * The identity on `request.dpop`, with its claims typed as `Claims` (a type only: check what
 * you rely on with the `claims.check` route option); `null` when there is none.
 *
 * @example
 * ```ts
 * interface TenantClaims extends Record<string, unknown> { tenant: string }
 * app.get('/notes', { preHandler: app.dpop() }, async (request) => ({
 *   tenant: dpopIdentity<TenantClaims>(request)!.claims.tenant,
 * }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
export function dpopIdentity<Claims extends object = Record<string, unknown>>(
  request: FastifyRequest,
): VerifiedIdentity<Claims> | null {
  return request.dpop as VerifiedIdentity<Claims> | null
}

/** Options of {@link dpopPlugin}. */
export interface DPoPPluginOptions {
  resourceServer: ResourceServer
}

/**
 * A route-level `preHandler` that verifies the request. It runs after body parsing, so a form
 * body `access_token` is seen when a form parser (e.g. `@fastify/formbody`) is registered.
 * With `rejections: 'error'` it throws a `RequestRejected` (`statusCode`, `headers`, RFC
 * `body`) that `setErrorHandler` sees; Fastify's default handler sends its status and headers.
 *
 * @example
 * ```ts
 * app.get('/items', { preHandler: dpopPreHandler(resourceServer, { scopes: ['items:read'] }) }, async (request) => {
 *   return { owner: request.dpop!.subject }
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function dpopPreHandler<Claims extends object = Record<string, unknown>>(
  resourceServer: ResourceServer,
  options: DPoPPreHandlerOptions<Claims> = {},
): preHandlerAsyncHookHandler {
  checkResourceServer(resourceServer)
  const { route, rejections } = checkAdapterOptions(options)
  return async function dpopPreHandler(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const verdict = await resourceServer.verifyRequest<Claims, boolean>(
      requestLikeOf(request.raw, request.url, request.body),
      route,
    )
    const target = {
      getHeader: (name: string) => reply.getHeader(name),
      setHeader: (name: string, value: string) => reply.header(name, value),
    }
    if (verdict.ok) {
      writeHeaders(verdict.responseHeaders, target)
      if (verdict.identity !== undefined) request.dpop = verdict.identity as VerifiedIdentity
      return
    }
    if (rejections === 'error') throw new RequestRejected(verdict)
    const { status, headers, body } = renderRejection(verdict)
    writeHeaders(headers, target)
    await reply.code(status).send(body === '' ? undefined : body)
  }
}

/**
 * Registers `request.dpop` (`decorateRequest('dpop', null)`) and `fastify.dpop(options)`, the
 * `preHandler` factory bound to this resource server. Not encapsulated, like `fastify-plugin`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { dpopPlugin } from '@keybound/server/fastify'
 *
 * const app = Fastify()
 * await app.register(dpopPlugin, { resourceServer })
 * app.get('/items', { preHandler: app.dpop({ scopes: ['items:read'] }) }, async (request) => request.dpop)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export const dpopPlugin: FastifyPluginCallback<DPoPPluginOptions> = function dpopPlugin(
  fastify,
  options,
  done,
) {
  checkResourceServer(options.resourceServer)
  fastify.decorateRequest('dpop', null)
  fastify.decorate('dpop', (routeOptions?: DPoPPreHandlerOptions) =>
    dpopPreHandler(options.resourceServer, routeOptions),
  )
  done()
}
// What `fastify-plugin` would set: share the decorators with the parent scope, name the plugin.
Object.assign(dpopPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@keybound/server',
})

/**
 * Adds a route at the metadata's well-known path that answers `GET` and `HEAD` with the
 * protected-resource metadata (RFC 9728 §3) and other methods with 405.
 *
 * @example
 * ```ts
 * import { serveProtectedResourceMetadata } from '@keybound/server/fastify'
 *
 * serveProtectedResourceMetadata(app, metadata)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3
 */
export function serveProtectedResourceMetadata(
  fastify: FastifyInstance,
  metadata: ProtectedResourceMetadata,
): void {
  checkMetadata(metadata)
  // Every method: GET and HEAD get the document, the others 405 (as from the other adapters).
  fastify.all(metadata.path, async function protectedResourceMetadata(request, reply) {
    const { status, headers, body } = metadata.answer(request.method)
    return reply.code(status).headers(headers).send(body)
  })
}
