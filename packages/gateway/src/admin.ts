/**
 * The gateway's own routes: health for load balancers and Prometheus metrics, on the public
 * listener under `admin.pathPrefix` and on the optional admin listener. They never reach the
 * upstream and take no credentials; the DPoP checks (RFC 9449 §7) guard the other paths only.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { Logger } from 'pino'
import { isReplayStoreReady, type BuiltReplayStore } from './build.js'
import type { GatewayConfig } from './config.js'
import type { GatewayMetrics } from './lib/metrics.js'

/**
 * A Fastify server of the gateway (the public one or the admin one).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export type GatewayServer = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>

/**
 * Headers of every answer the gateway writes itself: none of them may be cached.
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5
 */
export const NO_STORE = { 'cache-control': 'no-store' }

/**
 * What the admin routes read: the config, the replay store whose health they report, the
 * metrics they serve and whether the gateway is shutting down.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface AdminContext {
  settings: GatewayConfig
  replayStore: BuiltReplayStore
  metrics: GatewayMetrics
  isClosing(): boolean
}

/**
 * The admin routes of one gateway: `addTo` puts them on a server, `buildAdminApp` makes the
 * separate admin listener's server and `metricsWhere` says where metrics are served.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface AdminRoutes {
  addTo(server: GatewayServer, withMetrics: boolean): void
  buildAdminApp(logger: Logger): GatewayServer
  metricsWhere(hasAdminApp: boolean): string
}

/**
 * Builds the admin routes over `context`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function createAdminRoutes(context: AdminContext): AdminRoutes {
  const { settings, replayStore, metrics } = context

  /** Health for load balancers; 503 while closing or while the replay store is down. */
  async function answerHealth(_request: FastifyRequest, reply: FastifyReply) {
    // A gateway whose replay store is down refuses every protected request (503): take it out
    // of rotation rather than have a load balancer send it traffic.
    const replayReady = isReplayStoreReady(settings, replayStore)
    const closing = context.isClosing()
    const ok = !closing && replayReady
    return reply
      .code(ok ? 200 : 503)
      .headers(NO_STORE)
      .send({
        status: ok ? 'ok' : closing ? 'closing' : 'unavailable',
        replay: replayReady ? 'ready' : 'unavailable',
      })
  }

  async function answerMetrics(_request: FastifyRequest, reply: FastifyReply) {
    return reply
      .headers({ 'content-type': metrics.registry.contentType, ...NO_STORE })
      .send(await metrics.registry.metrics())
  }

  /** Health always; metrics only where the config puts them. */
  function addTo(server: GatewayServer, withMetrics: boolean): void {
    const prefix = settings.admin.pathPrefix
    server.get(`${prefix}/healthz`, answerHealth)
    if (withMetrics) server.get(`${prefix}/metrics`, answerMetrics)
  }

  function buildAdminApp(logger: Logger): GatewayServer {
    const server = Fastify({
      loggerInstance: logger,
      logController: new LogController({ disableRequestLogging: true }),
      requestTimeout: settings.limits.requestTimeoutMs,
    })
    addTo(server, settings.admin.metrics)
    server.setNotFoundHandler((_request, reply) =>
      reply.code(404).headers(NO_STORE).send({ error: 'not_found' }),
    )
    return server
  }

  /** Where the metrics can be read, for the start-up log line. */
  function metricsWhere(hasAdminApp: boolean): string {
    if (!settings.admin.metrics) return 'off'
    const places = [
      ...(hasAdminApp ? ['admin listener'] : []),
      ...(settings.admin.publicMetrics ? ['public listener'] : []),
    ]
    return places.length === 0 ? 'not served (set admin.listen)' : places.join(' and ')
  }

  return { addTo, buildAdminApp, metricsWhere }
}
