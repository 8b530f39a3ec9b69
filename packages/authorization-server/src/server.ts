/**
 * `createAuthorizationServer`: validates the config, opens the database (migrations, config
 * clients and users, signing keys, nonce secret), picks the replay store and builds the Fastify
 * app with every endpoint.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import formbody from '@fastify/formbody'
import { createNonceSource, MemoryReplayStore, type ReplayStore } from '@keybound/core'
import { isLoopbackHost } from '@keybound/core/internal'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Kysely } from 'kysely'
import { createClientRegistry } from './clients/registry.js'
import { lintConfig, resolveConfig, type AuthorizationServerConfig } from './config.js'
import { registerCors } from './http/cors.js'
import { endpointUrls, type EndpointUrls, type ServerContext } from './context.js'
import { createEndpointLimits } from './rate-limits/endpoint-limits.js'
import { createMetrics, listenForMetrics, type MetricsListener } from './metrics.js'
import { createRequestLimits } from './rate-limits/request-limits.js'
import { checkJsonDepth } from './lib/json-depth.js'
import { handleAuthorize, handleConsent, handleLogin } from './routes/authorize.js'
import { handleIntrospect, handleRevoke } from './routes/introspect-revoke.js'
import { buildJwks, buildMetadata } from './routes/metadata.js'
import { handlePar } from './routes/par.js'
import { handleRegister } from './routes/register.js'
import { handleToken } from './routes/token.js'
import { openHsmKeyring, type HsmKeyring } from './keys/hsm-keys.js'
import { loadSigningKeys, rotateSigningKeys, type KeySet } from './keys/signing-keys.js'
import { openDatabase, pingDatabase, type Database } from './storage/database.js'
import { findOrCreateSetting } from './storage/settings.js'
import { startSweeper, type SweepReport } from './storage/sweep.js'
import { syncConfigUsers } from './users/password-upgrades.js'
import { createErrorHandler, OAuthError, sendError, sendJson } from './http/wire.js'

/** Options that are not configuration: wiring for embedding and tests. */
export interface AuthorizationServerOptions {
  /** Fastify logger: `false`, `true`, or pino options (default: info level, secrets redacted). */
  logger?: FastifyServerOptions['logger']
  /** Clock in milliseconds (tests); defaults to `Date.now`. */
  now?: () => number
  /** Environment for `${VAR}` references and overrides; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv
  /** A replay store to use instead of the configured one (e.g. shared between instances in tests). */
  replayStore?: ReplayStore
  /** How often to reload signing keys from the database, in ms (default 30 s), so rotations reach every instance. */
  keyReloadIntervalMs?: number
}

/** A running (or ready to run) authorization server. */
export interface AuthorizationServer {
  /** The Fastify app, for `inject`, extra routes or hooks. */
  readonly app: FastifyInstance
  readonly config: AuthorizationServerConfig
  /** Config lint warnings (AS16 and others), also logged at start. */
  readonly warnings: readonly string[]
  /** The issuer, once configured or derived by `listen`. */
  readonly issuer: string | undefined
  /** Endpoint URLs under the issuer. */
  urls(): EndpointUrls
  /** The URL of the separate metrics listener once it runs (`metrics.port`), else `undefined`. */
  metricsUrl(): string | undefined
  /**
   * Starts listening (default 127.0.0.1, port 0 = any free port), and the metrics listener when
   * `metrics.port` is set; resolves with the issuer.
   */
  listen(options?: { port?: number; host?: string }): Promise<string>
  /** Rotates the access-token signing key now; the old one stays published until its tokens expire. */
  rotateSigningKeys(): Promise<void>
  /**
   * Deletes expired rows now (what the periodic sweep of `storage.sweep` does), unless another
   * instance sharing the database holds the sweep lease: then `swept` is `false`.
   */
  sweepExpiredRows(): Promise<SweepReport>
  /** Stops listening and closes the database and replay store connections. */
  close(): Promise<void>
}

const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.dpop',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'res.headers["dpop-nonce"]',
]

function defaultLogger(): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      // Only the path: queries of /authorize can carry state, login hints and request objects.
      req: (request: { method: string; url: string; id: string }) => ({
        id: request.id,
        method: request.method,
        path: request.url.split('?')[0],
      }),
    },
  }
}

async function openReplayStore(
  config: AuthorizationServerConfig,
  onError: (error: unknown) => void,
  now: () => number,
): Promise<{ store: ReplayStore; close(): Promise<void> }> {
  // The memory store keeps the server's clock, so a record ends when the server's window does.
  if (config.replay.redisUrl === undefined)
    return { store: new MemoryReplayStore({ now }), close: async () => {} }
  const moduleName = '@keybound/server/redis'
  let factory:
    | ((options: { url: string; keyPrefix: string; onError?: (error: unknown) => void }) => unknown)
    | undefined
  try {
    factory = ((await import(moduleName)) as { createRedisReplayStore?: typeof factory })
      .createRedisReplayStore
  } catch (error) {
    throw new Error('REDIS_URL is set but @keybound/server/redis is not available', {
      cause: error,
    })
  }
  if (factory === undefined)
    throw new Error('@keybound/server/redis does not export createRedisReplayStore')
  const store = (await factory({
    url: config.replay.redisUrl,
    keyPrefix: config.replay.keyPrefix,
    onError,
  })) as ReplayStore & {
    close?: () => Promise<void>
    quit?: () => Promise<void>
  }
  return { store, close: async () => void (await (store.close ?? store.quit)?.call(store)) }
}

async function loadNonceSecret(
  db: Kysely<Database>,
  configured: string | undefined,
): Promise<string> {
  if (configured !== undefined) return configured
  return findOrCreateSetting(db, 'nonce_secret', () => randomBytes(32).toString('base64url'))
}

function deriveIssuer(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  if (!isLoopbackHost(host))
    throw new Error('issuer must be configured unless the server listens on a loopback address')
  return `http://${host}:${address.port}`
}

/**
 * Builds an authorization server from a config document (validated here; see `resolveConfig`).
 * Opens the database and applies migrations, stores the config clients and users, creates the
 * first signing key on first start.
 * @example
 * ```ts
 * const server = await createAuthorizationServer(await loadConfigFile('keybound-as.yaml'))
 * const issuer = await server.listen({ port: 8443, host: '0.0.0.0' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function createAuthorizationServer(
  input: unknown,
  options: AuthorizationServerOptions = {},
): Promise<AuthorizationServer> {
  const config = resolveConfig(input, options.env ?? process.env)
  const now = options.now ?? Date.now
  const { db, dialect } = await openDatabase(config.storage)
  let replay: Awaited<ReturnType<typeof openReplayStore>> | undefined
  let hsm: HsmKeyring | undefined
  try {
    if (config.signing.pkcs11 !== undefined) hsm = await openHsmKeyring(config.signing.pkcs11)
    // Redis connection errors surface as ReplayStoreUnavailable (503) on requests; log them once here.
    const onError = (error: unknown) =>
      process.emitWarning(`replay store: ${(error as Error)?.message ?? String(error)}`)
    replay =
      options.replayStore === undefined
        ? await openReplayStore(config, onError, now)
        : { store: options.replayStore, close: async () => {} }
    return await assemble(config, options, now, db, dialect, replay, hsm)
  } catch (error) {
    await hsm?.close()
    await replay?.close()
    await db.destroy()
    throw error
  }
}

async function assemble(
  config: AuthorizationServerConfig,
  options: AuthorizationServerOptions,
  now: () => number,
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  replay: Awaited<ReturnType<typeof openReplayStore>>,
  hsm: HsmKeyring | undefined,
): Promise<AuthorizationServer> {
  const clients = await createClientRegistry(db, config.clients, now())
  await syncConfigUsers(db, config.users, now())
  const secret = await loadNonceSecret(db, config.dpop.nonce.secret)
  const nonces = createNonceSource({
    secret,
    purpose: 'as',
    stepSeconds: config.dpop.nonce.stepSeconds,
    now,
  })
  let keys: KeySet = await loadSigningKeys(
    db,
    config.signing.alg,
    now(),
    config.accessTokens.lifetime + 60,
    hsm,
  )
  let urls: EndpointUrls | undefined =
    config.issuer === undefined ? undefined : endpointUrls(config.issuer)
  const metrics = createMetrics()
  const app = Fastify({
    logger: options.logger ?? defaultLogger(),
    // Only the configured proxies' X-Forwarded-For counts: request.ip is then the client's
    // address (the per-address rate limits depend on it); from anyone else it is ignored.
    trustProxy: config.trustProxy.length === 0 ? false : config.trustProxy,
    bodyLimit: config.limits.bodyBytes,
    // A client gets this long to send the whole request (headers and body): slow clients
    // (slowloris) are cut off with 408 instead of holding a connection forever.
    requestTimeout: config.limits.requestTimeoutMs,
    http: {
      maxHeaderSize: config.limits.headerBytes,
      // Node checks the request timeout on this interval (default 30 s); a tenth of it keeps
      // the cut-off close to the configured time.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1000, config.limits.requestTimeoutMs / 10),
      ),
    },
    return503OnClosing: true,
  })
  const limits = createRequestLimits(config.rateLimits, now)
  const ctx: ServerContext = {
    config,
    db,
    dialect,
    clients,
    nonces,
    replayStore: replay.store,
    metrics,
    log: app.log,
    now,
    limits,
    endpointLimits: createEndpointLimits(config.rateLimits, now),
    urls: () => urls ?? fail('the issuer is not known before listen()'),
    keys: () => keys,
  }
  const warnings = lintConfig(config)
  for (const warning of warnings) app.log.warn(warning)

  const reloadKeys = async () => {
    keys = await loadSigningKeys(
      db,
      config.signing.alg,
      now(),
      config.accessTokens.lifetime + 60,
      hsm,
    )
  }
  const timer = setInterval(
    () =>
      reloadKeys().catch((error) => app.log.error({ err: error }, 'reloading signing keys failed')),
    options.keyReloadIntervalMs ?? 30_000,
  )
  timer.unref()

  await app.register(formbody)
  // JSON bodies (dynamic registration) are parsed as usual, after a nesting check: deep nesting
  // costs nothing to send but recursion to process (cloning, serializing).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (!checkJsonDepth(body as string, config.limits.jsonDepth)) {
      done(
        Object.assign(new Error('JSON body is nested too deeply'), { statusCode: 400 }),
        undefined,
      )
      return
    }
    parseJson(request, body as string, done)
  })
  registerCors(app, config.cors.allowedOrigins)
  app.setErrorHandler(
    createErrorHandler({
      issueNonce: () => nonces.issueNonce(),
      count: (endpoint, error) => metrics.errors.inc({ endpoint, error }),
    }),
  )
  app.setNotFoundHandler((_request, reply) =>
    sendError(reply, new OAuthError('invalid_request', 'no such endpoint', { status: 404 })),
  )
  // A callback hook, not an async one: it runs on every request and needs no promise.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unknown'
    metrics.duration.observe({ route, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
    done()
  })

  const metadata = async (_request: unknown, reply: import('fastify').FastifyReply) =>
    reply.header('Cache-Control', 'public, max-age=300').send(buildMetadata(ctx))
  app.get('/.well-known/oauth-authorization-server', metadata)
  app.get('/.well-known/openid-configuration', metadata)
  app.get('/jwks', async (_request, reply) =>
    reply
      .header('Cache-Control', 'public, max-age=60')
      .type('application/jwk-set+json')
      .send(buildJwks(ctx)),
  )
  // Their per-client budgets are counted at client authentication (clients/authentication.ts).
  app.post('/token', (request, reply) => handleToken(ctx, request, reply))
  app.post('/par', (request, reply) => handlePar(ctx, request, reply))
  app.get('/authorize', (request, reply) => handleAuthorize(ctx, request, reply))
  app.post('/authorize/login', (request, reply) => handleLogin(ctx, request, reply))
  app.post('/authorize/consent', (request, reply) => handleConsent(ctx, request, reply))
  app.post('/introspect', (request, reply) => handleIntrospect(ctx, request, reply))
  app.post('/revoke', (request, reply) => handleRevoke(ctx, request, reply))
  if (config.registration !== undefined)
    app.post('/register', (request, reply) => handleRegister(ctx, request, reply))
  app.get('/healthz', async (_request, reply) => {
    try {
      await pingDatabase(db)
      return sendJson(reply, 200, { status: 'ok', database: dialect })
    } catch (error) {
      app.log.error({ err: error }, 'health check failed')
      return sendJson(reply, 503, { status: 'unavailable' })
    }
  })
  if (config.metrics.onMainListener) {
    app.get('/metrics', async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    )
  }

  let metricsListener: MetricsListener | undefined
  let closed = false
  // Started last: nothing after it can fail and leave its timer running on a closed database.
  const sweeper = startSweeper({
    db,
    settings: config.storage.sweep,
    now,
    onError: (error) => app.log.error({ err: error }, 'sweeping expired rows failed'),
  })
  return {
    app,
    config,
    warnings,
    get issuer() {
      return urls?.issuer
    },
    urls: () => ctx.urls(),
    metricsUrl: () => metricsListener?.url,
    async listen(listenOptions = {}) {
      await app.listen({ port: listenOptions.port ?? 0, host: listenOptions.host ?? '127.0.0.1' })
      if (config.metrics.port !== undefined && metricsListener === undefined) {
        metricsListener = await listenForMetrics(metrics.registry, {
          host: config.metrics.host,
          port: config.metrics.port,
        })
      }
      urls ??= endpointUrls(deriveIssuer(app.server.address() as AddressInfo))
      app.log.info({ issuer: urls.issuer }, 'authorization server listening')
      return urls.issuer
    },
    async rotateSigningKeys() {
      await rotateSigningKeys(db, {
        alg: config.signing.alg,
        retireAfter: config.accessTokens.lifetime + 60,
        nowMs: now(),
        hsm,
      })
      await reloadKeys()
    },
    sweepExpiredRows: () => sweeper.sweep(),
    async close() {
      if (closed) return
      closed = true
      await sweeper.stop()
      clearInterval(timer)
      await metricsListener?.close()
      await app.close()
      await replay.close()
      await hsm?.close()
      await db.destroy()
    },
  }
}

function fail(message: string): never {
  throw new Error(message)
}
