/**
 * CORS for browser-based clients (a single-page app on another origin): only the endpoints a
 * browser client calls with `fetch`, only for the configured origins, and never with cookies.
 * The authorization endpoint and the login form are navigations, so they need none of this.
 *
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @packageDocumentation
 */
import type { FastifyInstance } from 'fastify'

/** Endpoints a browser client reads or posts to cross-origin. */
const CORS_PATHS = [
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
  '/jwks',
  '/token',
  '/par',
  '/revoke',
]
// A DPoP client must read the nonce of a `use_dpop_nonce` answer to retry (RFC 9449 §8).
const EXPOSED_HEADERS = 'DPoP-Nonce, WWW-Authenticate'
const ALLOWED_HEADERS = 'Authorization, Content-Type, DPoP'
const PREFLIGHT_MAX_AGE = '600'

/**
 * Adds CORS to the browser-facing endpoints for the allowed origins: the response headers on
 * every answer (errors included, so a client can read `use_dpop_nonce`) and the preflight.
 * Requests from other origins get no CORS headers, so the browser keeps the answer from them.
 * Does nothing when `allowedOrigins` is empty.
 * @example
 * ```ts
 * registerCors(app, ['https://app.example.com'])
 * ```
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 */
export function registerCors(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  if (allowedOrigins.length === 0) return
  const allowed = new Set(allowedOrigins)
  const paths = new Set(CORS_PATHS)
  app.addHook('onRequest', (request, reply, done) => {
    if (!paths.has(request.routeOptions.url ?? '')) return done()
    // The answer depends on Origin, so caches must keep one copy per origin.
    reply.header('Vary', 'Origin')
    const origin = request.headers.origin
    if (origin !== undefined && allowed.has(origin)) {
      reply.header('Access-Control-Allow-Origin', origin)
      reply.header('Access-Control-Expose-Headers', EXPOSED_HEADERS)
    }
    done()
  })
  for (const path of CORS_PATHS) {
    app.options(path, async (request, reply) => {
      if (!allowed.has(request.headers.origin ?? '')) return reply.code(403).send()
      return reply
        .code(204)
        .header(
          'Access-Control-Allow-Methods',
          path.startsWith('/.well-known') || path === '/jwks' ? 'GET' : 'POST',
        )
        .header('Access-Control-Allow-Headers', ALLOWED_HEADERS)
        .header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE)
        .send()
    })
  }
}
