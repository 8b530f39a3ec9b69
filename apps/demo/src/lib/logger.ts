/**
 * Logger options shared by the demo's servers: quiet by default (the banner is the interface),
 * and never a token, proof, code or cookie in a line.
 * @packageDocumentation
 */
import type { FastifyServerOptions } from 'fastify'

/**
 * Fastify logger options: level `LOG_LEVEL` (default `warn`), headers that carry credentials
 * redacted, and requests logged by path only, because the page's callback URL carries the
 * authorization code and `state` in its query.
 * @example
 * ```ts
 * const app = Fastify({ logger: demoLogger('api') })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11
 */
export function demoLogger(name: string): NonNullable<FastifyServerOptions['logger']> {
  return {
    name,
    level: process.env.LOG_LEVEL ?? 'warn',
    redact: {
      paths: ['req.headers.authorization', 'req.headers.dpop', 'req.headers.cookie'],
      censor: '[redacted]',
    },
    serializers: {
      req: (request: { method: string; url: string; id: string }) => ({
        id: request.id,
        method: request.method,
        path: request.url.split('?')[0],
      }),
    },
  }
}
