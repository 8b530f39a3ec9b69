/**
 * Fastify 5: a plugin that decorates requests with `dpop`, and a route-level `preHandler`
 * factory. It only translates: Fastify request in, verdict out, identity on `request.dpop`.
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
import { checkRouteOptions } from '../resource-server.js'
import { checkMetadata, type ProtectedResourceMetadata } from '../resource-metadata.js'
import type { ResourceServer, RouteOptions, VerifiedIdentity } from '../types.js'
import { requestLikeOf, writeHeaders } from './node-headers.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified identity on protected routes, `null` elsewhere. */
    dpop: VerifiedIdentity | null
  }
  interface FastifyInstance {
    /** A `preHandler` for the plugin's resource server (see {@link dpopPreHandler}). */
    dpop(options?: RouteOptions): preHandlerAsyncHookHandler
  }
}

/** Options of {@link dpopPlugin}. */
export interface DPoPPluginOptions {
  resourceServer: ResourceServer
}

/**
 * A route-level `preHandler` that verifies the request. It runs after body parsing, so a form
 * body `access_token` is seen when a form parser (e.g. `@fastify/formbody`) is registered.
 *
 * @example
 * ```ts
 * app.get('/items', { preHandler: dpopPreHandler(resourceServer, { scopes: ['items:read'] }) }, async (request) => {
 *   return { owner: request.dpop!.subject }
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function dpopPreHandler(
  resourceServer: ResourceServer,
  options: RouteOptions = {},
): preHandlerAsyncHookHandler {
  checkResourceServer(resourceServer)
  const routeOptions = { scopes: checkRouteOptions(options) }
  return async function dpopPreHandler(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const verdict = await resourceServer.verifyRequest(
      requestLikeOf(request.raw, request.url, request.body),
      routeOptions,
    )
    const get = (name: string) => reply.getHeader(name)
    const set = (name: string, value: string) => void reply.header(name, value)
    if (verdict.ok) {
      writeHeaders(verdict.responseHeaders, get, set)
      request.dpop = verdict.identity
      return
    }
    const { status, headers, body } = renderRejection(verdict)
    writeHeaders(headers, get, set)
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
  fastify.decorate('dpop', (routeOptions?: RouteOptions) =>
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
