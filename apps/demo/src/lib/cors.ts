/**
 * CORS for the demo API, whose caller (the page) is on another origin.
 * @packageDocumentation
 */
import type { FastifyInstance } from 'fastify'

/**
 * Lets one origin call the routes under `prefix` with `Authorization` and `DPoP` headers, and
 * read `WWW-Authenticate` and `DPoP-Nonce` (the page shows the challenges and retries with the
 * nonce). No cookies: DPoP needs none.
 * @example
 * ```ts
 * allowOrigin(app, 'http://localhost:4002', '/api/')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function allowOrigin(app: FastifyInstance, origin: string, prefix: string): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.url.startsWith(prefix)) return done()
    reply.header('Vary', 'Origin')
    if (request.headers.origin === origin) {
      reply.header('Access-Control-Allow-Origin', origin)
      reply.header('Access-Control-Expose-Headers', 'WWW-Authenticate, DPoP-Nonce')
    }
    if (request.method !== 'OPTIONS') return done()
    // A preflight ends here: Fastify has no OPTIONS routes for the API.
    reply
      .code(request.headers.origin === origin ? 204 : 403)
      .header('Access-Control-Allow-Methods', 'GET, POST')
      .header('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP')
      .header('Access-Control-Max-Age', '600')
      .send()
  })
}
