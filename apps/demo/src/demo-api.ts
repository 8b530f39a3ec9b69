/**
 * The demo API: a Fastify app protected by `@keybound/server`. `GET /api/me` answers who the
 * token says the caller is; `GET`/`POST /api/notes` keep short notes in memory, per subject.
 * Every request needs a DPoP-bound access token from the demo authorization server and a fresh
 * proof; RS nonces are on unless turned off. Its RFC 9728 metadata, at
 * `/.well-known/oauth-protected-resource`, names the demo authorization server, and every
 * challenge points at it, so a client that knows only the API's URL can find its way.
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import {
  createProtectedResourceMetadata,
  createResourceServer,
  jwtAccessTokens,
} from '@keybound/server'
import { dpopPlugin, serveProtectedResourceMetadata } from '@keybound/server/fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import { answerBodyErrors } from './lib/body-errors.js'
import { allowOrigin } from './lib/cors.js'
import { demoLogger } from './lib/logger.js'

/** Options of {@link createDemoApi}. */
export interface DemoApiOptions {
  /** The API's public base URL: the `htu` prefix proofs are checked against, and the `aud`. */
  apiUrl: string
  /** The authorization server whose JWT access tokens the API accepts. */
  issuer: string
  /** The page's origin, allowed by CORS. */
  pageOrigin: string
  /** RS nonces (RFC 9449 §9). */
  nonces: boolean
}

interface Note {
  text: string
  createdAt: string
}

// Bounds, so that a long-running demo cannot be made to eat memory.
const MAX_NOTE_LENGTH = 280
const MAX_NOTES = 50
const MAX_SUBJECTS = 1000
const BODY_LIMIT = 4096

function addNote(store: Map<string, Note[]>, subject: string, text: string): Note[] {
  if (!store.has(subject) && store.size >= MAX_SUBJECTS) {
    store.delete(store.keys().next().value as string)
  }
  const notes = [...(store.get(subject) ?? []), { text, createdAt: new Date().toISOString() }]
  store.set(subject, notes.slice(-MAX_NOTES))
  return store.get(subject)!
}

function readNoteText(body: unknown): string | undefined {
  const text = (body as { text?: unknown } | null)?.text
  if (typeof text !== 'string') return undefined
  const trimmed = text.trim()
  return trimmed === '' || trimmed.length > MAX_NOTE_LENGTH ? undefined : trimmed
}

/**
 * Builds the demo API (not yet listening).
 * @example
 * ```ts
 * const api = await createDemoApi({ apiUrl: 'http://localhost:4001', issuer: 'http://localhost:4000', pageOrigin: 'http://localhost:4002', nonces: true })
 * await api.listen({ port: 4001, host: 'localhost' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export async function createDemoApi(options: DemoApiOptions): Promise<FastifyInstance> {
  const metadata = createProtectedResourceMetadata({
    resource: options.apiUrl,
    authorizationServers: [options.issuer],
    scopesSupported: ['notes:read', 'notes:write'],
    resourceName: 'Keybound demo API',
  })
  const resourceServer = createResourceServer({
    publicBaseUrl: options.apiUrl,
    accessTokens: jwtAccessTokens({
      issuer: options.issuer,
      audience: options.apiUrl,
      jwksUri: `${options.issuer}/jwks`,
    }),
    // Stateless nonces: a secret per process is enough, a restart just makes clients retry once.
    ...(options.nonces ? { nonces: { secret: randomBytes(32).toString('base64url') } } : {}),
    resourceMetadataUrl: metadata.url,
  })
  const notes = new Map<string, Note[]>()
  const app = Fastify({ logger: demoLogger('demo-api'), bodyLimit: BODY_LIMIT })
  allowOrigin(app, options.pageOrigin, '/api/')
  answerBodyErrors(app, BODY_LIMIT)
  await app.register(dpopPlugin, { resourceServer })
  serveProtectedResourceMetadata(app, metadata)

  app.get('/api/me', { preHandler: app.dpop() }, async (request) => {
    const identity = request.dpop!
    return {
      subject: identity.subject ?? null,
      client_id: identity.clientId ?? null,
      scope: identity.scope.join(' '),
      token_type: identity.tokenType,
      jkt: identity.jkt,
      cnf: identity.claims.cnf ?? null,
    }
  })
  app.get('/api/notes', { preHandler: app.dpop({ scopes: ['notes:read'] }) }, async (request) => ({
    notes: notes.get(request.dpop!.subject ?? request.dpop!.clientId ?? '') ?? [],
  }))
  app.post(
    '/api/notes',
    { preHandler: app.dpop({ scopes: ['notes:write'] }) },
    async (request, reply) => {
      const text = readNoteText(request.body)
      if (text === undefined) {
        return reply.code(400).send({
          error: 'invalid_request',
          error_description: `"text" must be 1 to ${MAX_NOTE_LENGTH} characters`,
        })
      }
      const owner = request.dpop!.subject ?? request.dpop!.clientId ?? ''
      return reply.code(201).send({ notes: addNote(notes, owner, text) })
    },
  )
  return app
}
