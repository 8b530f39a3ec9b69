/**
 * The demo API's answer to a request body Fastify cannot read: the OAuth error shape the rest
 * of the API uses, with a description a terminal user can act on.
 * @packageDocumentation
 */
import type { FastifyInstance } from 'fastify'

interface FastifyBodyError {
  statusCode?: unknown
  code?: unknown
}

// Fastify's own body errors, said for a person who typed the request into a terminal.
const DESCRIPTIONS: Readonly<Record<string, (bodyLimit: number) => string>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    'send the body as JSON, with the header Content-Type: application/json',
  FST_ERR_CTP_INVALID_JSON_BODY: () => 'the body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: () => 'the body is empty; send JSON such as {"text":"…"}',
  FST_ERR_CTP_BODY_TOO_LARGE: (bodyLimit) => `the body is over ${bodyLimit} bytes`,
}

function describeBodyError(code: unknown, bodyLimit: number): string {
  const describe = typeof code === 'string' ? DESCRIPTIONS[code] : undefined
  return describe === undefined ? 'the request cannot be read' : describe(bodyLimit)
}

/**
 * Answers a client mistake Fastify found before the route ran (content type, JSON syntax, body
 * size) with its status and `{error: "invalid_request", error_description}`; anything else is
 * a `500 server_error`, logged without the body.
 * @example
 * ```ts
 * answerBodyErrors(app, 4096)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function answerBodyErrors(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyBodyError, request, reply) => {
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500
    if (status >= 400 && status < 500) {
      return reply.code(status).send({
        error: 'invalid_request',
        error_description: describeBodyError(error.code, bodyLimit),
      })
    }
    request.log.error({ code: error.code }, 'demo API error')
    return reply.code(500).send({ error: 'server_error' })
  })
}
