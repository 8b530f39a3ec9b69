/**
 * The gateway: a Fastify server whose one catch-all route matches the configured routes,
 * verifies the request with `@keybound/server` (RFC 9449 §7) and streams accepted requests to
 * the upstream. Refusals are answered here and never reach the upstream.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { stripQueryAndFragment } from '@keybound/core/internal'
import {
  renderRejection,
  type ProtectedResourceMetadata,
  type VerifiedIdentity,
} from '@keybound/server'
import { requestLikeOf } from '@keybound/server/node'
import { createAdminRoutes, NO_STORE, type GatewayServer } from './admin.js'
import {
  buildLogger,
  buildReplayStore,
  buildResourceServer,
  isResolved,
  waitForReplayStore,
  type GatewayOptions,
} from './build.js'
import { resolveGatewayConfig, type GatewayConfig, type RouteConfig } from './config.js'
import {
  buildResponseHeaders,
  buildUpstreamHeaders,
  createHeaderPolicy,
  mergeResponseHeaders,
} from './lib/headers.js'
import { createMetrics, type GatewayMetrics, type Outcome } from './lib/metrics.js'
import { answerPreflight, corsResponseHeaders, isPreflight } from './lib/cors.js'
import { matchRoute } from './lib/routes.js'
import { classifyUpstreamError, createUpstream } from './lib/upstream.js'
import { shutdownGateway } from './shutdown.js'

export type { GatewayOptions } from './build.js'

/** Without `Content-Length` or `Transfer-Encoding` a request has no body (RFC 9112 §6.3). */
function declaresBody(raw: IncomingMessage): boolean {
  return (
    raw.headers['content-length'] !== undefined || raw.headers['transfer-encoding'] !== undefined
  )
}

/**
 * Node's `requestTimeout` stops guarding a request once its headers are in and a handler runs,
 * so a client could send its headers and then drip the body one byte at a time (into a stream
 * going upstream, or into a refused request the server would drain). The whole request must
 * arrive within the deadline, or its connection is cut. A request without a body is complete
 * once its headers are in, so only requests with one are watched.
 */
function watchRequestDeadline(raw: IncomingMessage, deadlineMs: number): void {
  if (raw.complete || !(deadlineMs > 0) || !declaresBody(raw)) return
  const timer = setTimeout(() => {
    if (!raw.complete) raw.socket.destroy()
  }, deadlineMs)
  timer.unref()
  const stop = (): void => clearTimeout(timer)
  raw.once('end', stop)
  raw.once('close', stop)
}

/**
 * A running (or ready to run) gateway.
 *
 * @example
 * ```ts
 * const gateway = createGateway(await loadGatewayConfig('gateway.yaml'))
 * const { url } = await gateway.listen()
 * process.once('SIGTERM', () => void gateway.close())
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface Gateway {
  /**
   * Starts listening on `config.listen` (and on `config.admin.listen` when set); resolves with
   * the bound address, plus the admin listener's URL when there is one.
   */
  listen(): Promise<{ url: string; host: string; port: number; adminUrl?: string }>
  /**
   * Graceful shutdown: stops accepting connections, lets requests in flight finish (at most
   * `shutdownTimeoutMs`, then their connections are cut), then closes the upstream pool and the
   * Redis client. Safe to call more than once.
   */
  close(): Promise<void>
  /** The resolved configuration. */
  readonly config: GatewayConfig
  /**
   * The gateway's Prometheus registry, served at `<admin.pathPrefix>/metrics` on the admin
   * listener (and on the public one with `admin.publicMetrics`).
   */
  readonly metrics: GatewayMetrics['registry']
  /** The logger the gateway writes to. */
  readonly logger: Logger
}

/** What one request ended as, for the metrics and the access log. */
interface RequestNote {
  outcome: Outcome
  reason: string
  route?: string
  identity?: VerifiedIdentity
}

declare module 'fastify' {
  interface FastifyRequest {
    keyboundNote: RequestNote | null
  }
}

/** Starts `server` on `where`; resolves with the bound address and its URL. */
async function listenOn(
  server: GatewayServer,
  where: { host: string; port: number },
): Promise<{ url: string; host: string; port: number }> {
  await server.listen({ host: where.host, port: where.port })
  const address = server.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return { url: `http://${host}:${address.port}`, host: address.address, port: address.port }
}

function contentLengthOf(header: string | undefined): number | undefined {
  if (header === undefined) return undefined
  return /^\d{1,16}$/.test(header) ? Number(header) : Number.NaN
}

/**
 * Builds a gateway from a resolved config (see `loadGatewayConfig`) or from a config object in
 * the file's shape, which is validated here. Nothing listens until `listen()`.
 *
 * @example
 * ```ts
 * const gateway = createGateway({
 *   publicBaseUrl: 'https://api.example.com',
 *   upstream: { url: 'http://127.0.0.1:3000' },
 *   tokens: { jwt: { issuer: 'https://as.example.com', audience: 'https://api.example.com', jwksUri: 'https://as.example.com/jwks' } },
 *   routes: [{ prefix: '/', scopes: ['api'] }],
 * })
 * await gateway.listen()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function createGateway(
  config: GatewayConfig | object,
  options: GatewayOptions = {},
): Gateway {
  const settings = isResolved(config)
    ? config
    : resolveGatewayConfig(config, options.env ?? process.env)
  const logger = buildLogger(settings, options)
  const metrics = createMetrics()
  const replayStore = buildReplayStore(settings, logger)
  const resourceServer = buildResourceServer(settings, replayStore)
  const upstream = createUpstream(settings.upstream.url, settings.upstream)
  const publicUrl = new URL(settings.publicBaseUrl)
  const policy = createHeaderPolicy({
    identity: settings.identityHeaders,
    stripAuthorization: settings.forwardAuthorization === 'strip',
    trustProxy: settings.trustProxy,
    stripOverrides: settings.requestHeaders.overrides === 'strip',
    dropAllUnderscores: settings.requestHeaders.underscores === 'drop-all',
    publicProto: publicUrl.protocol.slice(0, -1),
    publicHost: publicUrl.host,
  })
  const routeScopes = new Map<RouteConfig, { scopes: readonly string[] }>(
    settings.routes.map((route) => [route, { scopes: route.scopes }]),
  )
  let closing = false
  const admin = createAdminRoutes({
    settings,
    replayStore,
    metrics,
    isClosing: () => closing,
  })

  const app = Fastify({
    loggerInstance: logger,
    // One access-log line per request is written in `onResponse`, without the query string.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: settings.limits.requestTimeoutMs,
    http: {
      maxHeaderSize: settings.limits.headerBytes,
      // Node enforces requestTimeout on this interval (default 30 s): a tenth of the timeout
      // keeps a slow client's (slowloris) cut-off close to the configured time.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1000, settings.limits.requestTimeoutMs / 10 || 1000),
      ),
    },
    // Long paths are the upstream's business; the header size limit bounds them.
    routerOptions: { maxParamLength: 1 << 16 },
    return503OnClosing: true,
  })
  app.decorateRequest('keyboundNote', null)

  // Bodies are never parsed: whatever the content type, the request stream goes upstream as is.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => done(null))

  function note(request: FastifyRequest, value: RequestNote): void {
    request.keyboundNote = value
  }

  function refuse(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    error: string,
    extra: Record<string, string> = {},
  ) {
    note(request, { outcome: 'rejected', reason: error })
    return reply
      .code(status)
      .headers({ ...NO_STORE, ...extra })
      .send({ error })
  }

  async function forward(
    request: FastifyRequest,
    reply: FastifyReply,
    identity: VerifiedIdentity | undefined,
    responseHeaders: Record<string, string> | undefined,
    // The request's Content-Length, as `handle` already read it.
    declared: number | undefined,
    // The route's CORS headers, when it has a `cors` setting.
    cors: Record<string, string> | undefined,
  ): Promise<FastifyReply> {
    const raw = request.raw
    const chunked = raw.headers['transfer-encoding'] !== undefined
    const hasBody = chunked || (declared !== undefined && declared > 0)
    let started = false
    const call = upstream.forward(
      {
        method: request.method,
        target: request.url,
        headers: buildUpstreamHeaders(
          raw.headersDistinct,
          policy,
          identity,
          raw.socket.remoteAddress,
        ),
        body: hasBody ? raw : undefined,
        bodyLimit: chunked ? settings.limits.bodyBytes : undefined,
      },
      (statusCode, headers) => {
        started = true
        // From here the response is written straight to the socket, past Fastify's reply
        // pipeline (one stream less per request); the outcome is recorded when it closes.
        reply.hijack()
        const res = reply.raw
        if (closing) res.setHeader('connection', 'close')
        res.writeHead(statusCode, buildResponseHeaders(headers, responseHeaders, cors))
        return res
      },
    )
    // One listener for both ends of the response: a client that goes away must not leave the
    // upstream working for nobody, and a hijacked response is counted when it closes.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) call.abort()
      if (started) recordOutcome(request, reply)
    })
    try {
      await call.done
      return reply
    } catch (error) {
      const failure = classifyUpstreamError(error, call.aborted)
      if (started) {
        // Headers are on the wire already: the client sees a cut response, the operator a metric.
        if (failure.kind !== 'aborted') metrics.upstreamError(failure.kind)
        reply.raw.destroy()
        return reply
      }
      if (failure.kind === 'aborted') {
        note(request, { outcome: 'aborted', reason: 'client_closed' })
        return reply
      }
      if (failure.kind === 'body_too_large') {
        return refuse(request, reply, 413, 'body_too_large', { ...cors, connection: 'close' })
      }
      metrics.upstreamError(failure.kind)
      // The path only: a query may carry an `access_token`.
      request.log.warn(
        { path: stripQueryAndFragment(request.url), kind: failure.kind },
        'upstream request failed',
      )
      note(request, { outcome: 'upstream_error', reason: failure.kind })
      return reply
        .code(failure.status)
        .headers({ ...NO_STORE, ...cors })
        .send({ error: failure.status === 504 ? 'upstream_timeout' : 'bad_gateway' })
    }
  }

  /**
   * A preflight for a route with `cors` is the gateway's to answer: it carries no credentials
   * and must never reach the token check or the upstream. `undefined` when the route has no
   * `cors` (the request is then handled as any other `OPTIONS` request).
   */
  function answerCorsPreflight(
    request: FastifyRequest,
    reply: FastifyReply,
    path: string,
  ): FastifyReply | undefined {
    const method = request.headers['access-control-request-method'] as string
    const match = matchRoute(settings.routes, method, path, settings.paths.semicolons)
    const route = match.kind === 'route' ? match.route : undefined
    if (route?.cors === undefined) return undefined
    const answer = answerPreflight(
      route.cors,
      request.headers.origin as string,
      method,
      request.headers['access-control-request-headers'],
      route.methods,
    )
    if (!answer.ok) return refuse(request, reply, 403, 'cors_refused', answer.headers)
    note(request, { outcome: 'preflight', reason: '', route: route.pattern })
    return reply.code(204).headers(answer.headers).send()
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const path = stripQueryAndFragment(request.url)
    const adminPrefix = settings.admin.pathPrefix
    // The admin paths are the gateway's own; no method on them reaches the upstream.
    if (path === adminPrefix || path.startsWith(`${adminPrefix}/`))
      return refuse(request, reply, 404, 'not_found')
    // RFC 9728 §3: the metadata is the gateway's own document, public, never forwarded.
    if (settings.resourceMetadata !== undefined && path === settings.resourceMetadata.path)
      return answerResourceMetadata(request, reply, settings.resourceMetadata)
    if (isPreflight(request.method, request.headers)) {
      const answered = answerCorsPreflight(request, reply, path)
      if (answered !== undefined) return answered
    }
    const match = matchRoute(settings.routes, request.method, path, settings.paths.semicolons)
    if (match.kind === 'bad-path') return refuse(request, reply, 400, 'invalid_path')
    if (match.kind === 'no-route') return refuse(request, reply, 404, 'not_found')
    if (match.kind === 'method')
      return refuse(request, reply, 405, 'method_not_allowed', { allow: match.allow.join(', ') })
    const route = match.route
    const cors =
      route.cors === undefined ? undefined : corsResponseHeaders(route.cors, request.headers.origin)
    const declared = contentLengthOf(request.headers['content-length'])
    if (declared !== undefined && !(declared <= settings.limits.bodyBytes))
      // `Connection: close` so the gateway does not read the body it refuses.
      return refuse(request, reply, 413, 'body_too_large', { ...cors, connection: 'close' })
    if (route.public) {
      note(request, { outcome: 'public', reason: '', route: route.pattern })
      return forward(request, reply, undefined, undefined, declared, cors)
    }
    const verdict = await resourceServer.verifyRequest(
      requestLikeOf(request.raw, request.url),
      routeScopes.get(route),
    )
    if (!verdict.ok) {
      note(request, {
        outcome: 'rejected',
        reason: verdict.code ?? (verdict.error || 'no_credentials'),
        route: route.pattern,
      })
      const rejection = renderRejection(verdict)
      return reply
        .code(rejection.status)
        .headers(mergeResponseHeaders(mergeResponseHeaders({}, rejection.headers), cors))
        .send(rejection.body === '' ? undefined : rejection.body)
    }
    note(request, {
      outcome: 'accepted',
      reason: '',
      route: route.pattern,
      identity: verdict.identity,
    })
    return forward(request, reply, verdict.identity, verdict.responseHeaders, declared, cors)
  }

  app.all('/*', handle)
  app.setNotFoundHandler((request, reply) => refuse(request, reply, 404, 'not_found'))
  app.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) => {
    const status =
      typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 500
    if (status === 500) request.log.error({ code: error.code }, 'gateway error')
    return refuse(request, reply, status, status === 500 ? 'internal_error' : 'bad_request')
  })

  function answerResourceMetadata(
    request: FastifyRequest,
    reply: FastifyReply,
    metadata: ProtectedResourceMetadata,
  ): FastifyReply {
    note(request, { outcome: 'public', reason: '', route: metadata.path })
    const { status, headers, body } = metadata.answer(request.method)
    return reply
      .code(status)
      .headers(headers)
      .send(body === '' ? undefined : body)
  }

  // Health stays on the public listener, where load balancers probe; metrics leave it unless
  // the operator opts in, as they describe the traffic to whoever asks.
  admin.addTo(app, settings.admin.metrics && settings.admin.publicMetrics)
  const adminApp = settings.admin.listen === undefined ? undefined : admin.buildAdminApp(logger)

  // Callback-style hooks: an async hook costs a promise per request on the hot path.
  app.addHook('onRequest', (request, _reply, done) => {
    watchRequestDeadline(request.raw, settings.limits.requestTimeoutMs)
    done()
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    // Requests finishing during shutdown close their connection, so it drains instead of idling.
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('onResponse', (request, reply, done) => {
    try {
      recordOutcome(request, reply)
    } finally {
      done()
    }
  })

  function recordOutcome(request: FastifyRequest, reply: FastifyReply): void {
    const entry = request.keyboundNote
    if (entry === null) return
    // Once per request, whichever of `onResponse` or the hijacked response's `close` comes first.
    request.keyboundNote = null
    metrics.record(entry.outcome, entry.reason, reply.elapsedTime / 1000)
    if (!logger.isLevelEnabled('info')) return
    // No headers, no query: the proof and the token never reach a log line.
    const identity = entry.identity
    request.log.info(
      {
        method: request.method,
        path: stripQueryAndFragment(request.url),
        status: reply.statusCode,
        outcome: entry.outcome,
        ...(entry.reason === '' ? {} : { reason: entry.reason }),
        ...(entry.route === undefined ? {} : { route: entry.route }),
        ...(identity === undefined
          ? {}
          : { sub: identity.subject, client_id: identity.clientId, jkt: identity.jkt }),
        ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request',
    )
  }

  let closed: Promise<void> | undefined
  function close(): Promise<void> {
    closing = true
    closed ??= shutdownGateway({
      app,
      adminApp,
      upstream,
      replayStore,
      logger,
      shutdownTimeoutMs: settings.shutdownTimeoutMs,
    })
    return closed
  }

  return {
    config: settings,
    metrics: metrics.registry,
    logger,
    async listen() {
      // The Redis store connects in the background; past a bounded wait the gateway starts
      // anyway and `/healthz` says the replay store is unavailable until it connects.
      if (!(await waitForReplayStore(settings, replayStore)))
        logger.warn('redis replay store not connected yet; protected routes answer 503 until it is')
      const adminAddress =
        adminApp === undefined ? undefined : await listenOn(adminApp, settings.admin.listen!)
      const address = await listenOn(app, settings.listen).catch(async (error: unknown) => {
        // A public port that is taken must not leave the admin port open behind it.
        await adminApp?.close()
        throw error
      })
      logger.info(
        {
          url: address.url,
          ...(adminAddress === undefined ? {} : { adminUrl: adminAddress.url }),
          metrics: admin.metricsWhere(adminApp !== undefined),
          upstream: settings.upstream.url.origin,
          routes: settings.routes.length,
        },
        'gateway listening',
      )
      return adminAddress === undefined ? address : { ...address, adminUrl: adminAddress.url }
    },
    close,
  }
}
