/**
 * The verify service: the gateway's checks without the forwarding. A proxy that already runs in
 * front of an API (nginx `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`, Envoy
 * `ext_authz`) asks it about each request and forwards the request itself. It uses the
 * gateway's config, routes, scopes, token validators, replay store, nonces and metrics.
 *
 * Endpoints (one listener, meant for the proxy only):
 * - `/check`: the proxy sends the client's method in `X-Forwarded-Method`, its request target
 *   in `X-Forwarded-Uri` and the client's headers. Allow: 200 with the identity headers;
 *   deny: the exact rejection (status, `WWW-Authenticate`, `DPoP-Nonce`, body).
 * - `/check/nginx`: the same, for nginx `auth_request`, which turns any status but 2xx, 401
 *   and 403 into a 500 and passes no body: every denial is a 403 carrying the real status in
 *   `X-Keybound-Status` and the body in `X-Keybound-Body`, which the recipe answers with.
 * - `/envoy/<path>`: Envoy's HTTP `ext_authz` with `path_prefix: /envoy`, which sends the
 *   client's method and path as its own. Allow adds `x-envoy-auth-headers-to-remove` naming the
 *   identity headers it does not set and the spent credentials, as Envoy only overwrites the
 *   headers an answer carries.
 * - `<admin.pathPrefix>/healthz` for anyone; `<admin.pathPrefix>/metrics` for trusted proxies.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { stripQueryAndFragment } from '@keybound/core/internal'
import { requestLikeOf } from '@keybound/server/node'
import { resolveGatewayConfig, type GatewayConfig } from '../config.js'
import {
  buildLogger,
  buildReplayStore,
  buildResourceServer,
  isReplayStoreReady,
  isResolved,
  type GatewayOptions,
} from '../build.js'
import { createMetrics, type GatewayMetrics } from '../lib/metrics.js'
import { createCheck, refusal, type CheckAnswer, type CheckRequest } from './check.js'
import { normalizeAddress } from './config.js'
import type { CheckBackend, GrpcListener } from './grpc.js'

/**
 * A running (or ready to run) verify service.
 *
 * @example
 * ```ts
 * const service = createVerifyService(await loadGatewayConfig('gateway.yaml', process.env, { mode: 'verify' }))
 * const { url } = await service.listen()
 * process.once('SIGTERM', () => void service.close())
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface VerifyService {
  /**
   * Starts listening on `config.listen` (and the gRPC Check service on `verify.grpc` when set);
   * resolves with the bound address, plus the gRPC one.
   */
  listen(): Promise<{ url: string; host: string; port: number; grpcUrl?: string }>
  /** Stops accepting checks, lets those in flight finish, closes the replay store. */
  close(): Promise<void>
  /** Answers one check, whatever protocol it came in (the gRPC front end uses it). */
  check(request: CheckRequest): Promise<CheckAnswer>
  /** Whether `address` may send checks (it is one of `verify.trustedProxies`). */
  isTrusted(address: string | undefined): boolean
  readonly config: GatewayConfig
  /** The Prometheus registry (the gateway's metric names). */
  readonly metrics: GatewayMetrics['registry']
  readonly logger: Logger
}

/** Idle keep-alive of the proxies' connections, longer than any proxy's default but Envoy's. */
const KEEP_ALIVE_MS = 130_000

/** The `path_prefix` of Envoy's HTTP ext_authz in the recipe. */
const ENVOY_PREFIX = '/envoy'

/** Bytes of a request head as received: names, values and the `: ` and CRLF of each line. */
function headBytes(req: IncomingMessage): number {
  let total = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12
  for (const item of req.rawHeaders) total += item.length + 2
  return total
}

/** The single value of a header the proxy sets, or `undefined` when missing or repeated. */
function single(req: IncomingMessage, name: string): string | undefined {
  const values = req.headersDistinct[name]
  return values?.length === 1 ? values[0] : undefined
}

/**
 * The body as a header value. The service's descriptions are ASCII; should one ever not be, the
 * body falls back to its `error` member alone rather than fail the check.
 */
function headerSafeBody(answer: CheckAnswer): string {
  if (/^[\x20-\x7E]*$/.test(answer.body)) return answer.body
  return JSON.stringify({ error: (JSON.parse(answer.body) as { error: string }).error })
}

/** For nginx: a denial it passes on (403), with the real status and body in headers. */
function foldForNginx(answer: CheckAnswer): CheckAnswer {
  if (answer.status < 300) return answer
  return {
    ...answer,
    status: 403,
    clientHeaders: {
      ...answer.clientHeaders,
      'x-keybound-status': String(answer.status),
      'x-keybound-body': headerSafeBody(answer),
    },
    body: '',
  }
}

function write(res: ServerResponse, answer: CheckAnswer): void {
  res.writeHead(answer.status, {
    // A length, never chunked: nginx reads only the head of an auth_request answer, and keeps the
    // connection for the next check only when it knows the body is empty (Content-Length: 0).
    // A chunked empty body cost a new TCP connection, and ~100 µs here, per request.
    'content-length': Buffer.byteLength(answer.body),
    'x-keybound-status': String(answer.status),
    ...answer.clientHeaders,
    ...answer.upstreamHeaders,
  })
  res.end(answer.body)
}

/**
 * Builds a verify service from a resolved config (`loadGatewayConfig(file, env, { mode:
 * 'verify' })`) or a config object in the file's shape, which is validated here (no `upstream`
 * needed). Nothing listens until `listen()`.
 *
 * @example
 * ```ts
 * const service = createVerifyService({
 *   listen: { port: 9000 },
 *   publicBaseUrl: 'https://api.example.com',
 *   tokens: { jwt: { issuer: 'https://as.example.com', audience: 'https://api.example.com', jwksUri: 'https://as.example.com/jwks' } },
 *   routes: [{ prefix: '/', scopes: ['api'] }],
 *   verify: { trustedProxies: ['127.0.0.1'] },
 * })
 * await service.listen()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function createVerifyService(
  config: GatewayConfig | object,
  options: GatewayOptions = {},
): VerifyService {
  const settings = isResolved(config)
    ? config
    : resolveGatewayConfig(config, options.env ?? process.env, undefined, { mode: 'verify' })
  const logger = buildLogger(settings, options)
  const metrics = createMetrics()
  const replayStore = buildReplayStore(settings, logger)
  // The URL is rebuilt from the check's forwarded target against `publicBaseUrl`, never from
  // the proxy's Host or X-Forwarded-Host/-Proto, so the resource server must not read them.
  const resourceServer = buildResourceServer(settings, replayStore, false)
  const check = createCheck(settings, resourceServer)
  const trusted = new Set(settings.verify.trustedProxies)
  const adminPrefix = settings.admin.pathPrefix
  let closing = false

  function isTrusted(address: string | undefined): boolean {
    return address !== undefined && trusted.has(normalizeAddress(address))
  }

  function record(
    answer: CheckAnswer,
    started: number,
    client: { method?: string | undefined; target?: string | undefined },
  ): void {
    metrics.record(answer.outcome, answer.reason, (performance.now() - started) / 1000)
    if (!logger.isLevelEnabled('info')) return
    const target = client.target
    const identity = answer.identity
    // No headers, no query: the proof and the token never reach a log line.
    logger.info(
      {
        method: client.method,
        ...(target === undefined ? {} : { path: stripQueryAndFragment(target) }),
        status: answer.status,
        outcome: answer.outcome,
        ...(answer.reason === '' ? {} : { reason: answer.reason }),
        ...(answer.route === undefined ? {} : { route: answer.route }),
        ...(identity === undefined
          ? {}
          : { sub: identity.subject, client_id: identity.clientId, jkt: identity.jkt }),
      },
      'check',
    )
  }

  /** Where the client's method and target are: forwarded headers, or Envoy's own request line. */
  function clientRequestOf(req: IncomingMessage, envoy: boolean) {
    if (!envoy)
      return { method: single(req, 'x-forwarded-method'), target: single(req, 'x-forwarded-uri') }
    const rest = (req.url ?? '').slice(ENVOY_PREFIX.length)
    return { method: req.method, target: rest === '' ? '/' : rest }
  }

  async function answerCheck(req: IncomingMessage, envoy: boolean): Promise<CheckAnswer> {
    // A check from anyone but a configured proxy could claim any method and URI (forged
    // X-Forwarded-*), so it is refused before anything is read from it.
    if (!isTrusted(req.socket.remoteAddress)) return refusal(403, 'untrusted_proxy')
    if (headBytes(req) > settings.limits.headerBytes) return refusal(431, 'header_too_large')
    const { method, target } = clientRequestOf(req, envoy)
    const answer = await check({
      method,
      target,
      headers: requestLikeOf(req, target ?? '').headers,
    })
    return envoy ? withEnvoyRemovals(answer) : answer
  }

  /** Envoy keeps client headers an allow does not overwrite: name those it must remove. */
  function withEnvoyRemovals(answer: CheckAnswer): CheckAnswer {
    if (answer.status !== 200) return answer
    const names = [...Object.values(settings.identityHeaders), 'authorization', 'dpop']
    const removed = names.filter((name) => answer.upstreamHeaders[name] === undefined)
    return {
      ...answer,
      clientHeaders: {
        ...answer.clientHeaders,
        'x-envoy-auth-headers-to-remove': removed.join(','),
      },
    }
  }

  async function answerAdmin(req: IncomingMessage, res: ServerResponse, path: string) {
    if (path === `${adminPrefix}/healthz`) {
      const replayReady = isReplayStoreReady(settings, replayStore)
      const ok = !closing && replayReady
      res.writeHead(ok ? 200 : 503, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      })
      res.end(JSON.stringify({ status: ok ? 'ok' : closing ? 'closing' : 'unavailable' }))
      return
    }
    if (
      path === `${adminPrefix}/metrics` &&
      settings.admin.metrics &&
      isTrusted(req.socket.remoteAddress)
    ) {
      const text = await metrics.registry.metrics()
      res.writeHead(200, {
        'content-type': metrics.registry.contentType,
        'cache-control': 'no-store',
      })
      res.end(text)
      return
    }
    write(res, refusal(404, 'not_found'))
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    // The check itself carries no body; one sent anyway is read and dropped.
    req.resume()
    const path = stripQueryAndFragment(req.url ?? '')
    if (closing) res.setHeader('connection', 'close')
    const envoy = path.startsWith(`${ENVOY_PREFIX}/`)
    if (path !== '/check' && path !== '/check/nginx' && !envoy) return answerAdmin(req, res, path)
    const verdict = await answerCheck(req, envoy)
    const answer = path === '/check/nginx' ? foldForNginx(verdict) : verdict
    write(res, answer)
    record(answer, started, clientRequestOf(req, envoy))
  }

  const server: Server = createServer(
    {
      // Proxies keep their connections to the verify service open and reuse them. If Node closed
      // an idle one first, a check sent on it at that moment would fail (nginx answers 500). So
      // the service waits longer than the proxies' own idle timeouts: nginx 60 s, Traefik 90 s,
      // Caddy 120 s (Envoy's hour must be lowered in its cluster, see docs/edge.md).
      keepAliveTimeout: KEEP_ALIVE_MS,
      // Larger than the limit, so that an oversized head gets a clear 431 from `answerCheck`
      // (folded for nginx) rather than a reset; Node's own 431 stays the backstop.
      maxHeaderSize: settings.limits.headerBytes + 64 * 1024,
      requestTimeout: settings.limits.requestTimeoutMs,
    },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        logger.error({ code: (error as { code?: unknown })?.code }, 'verify service error')
        if (!res.headersSent) write(res, refusal(500, 'internal_error'))
        else res.destroy()
      })
    },
  )

  let grpcListener: GrpcListener | undefined
  const backend: CheckBackend = {
    check,
    isTrusted,
    recordCheck: record,
    identityHeaderNames: Object.values(settings.identityHeaders),
    headerBytes: settings.limits.headerBytes,
  }

  let closed: Promise<void> | undefined
  async function shutdown(): Promise<void> {
    closing = true
    await grpcListener?.close()
    const done = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    const deadline = setTimeout(() => server.closeAllConnections(), settings.shutdownTimeoutMs)
    try {
      await done
    } finally {
      clearTimeout(deadline)
    }
    await (replayStore as { close?(): Promise<void> }).close?.()
    logger.info('verify service closed')
  }

  return {
    config: settings,
    metrics: metrics.registry,
    logger,
    check,
    isTrusted,
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(settings.listen.port, settings.listen.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      const address = server.address() as AddressInfo
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
      const url = `http://${host}:${address.port}`
      const grpcWhere = settings.verify.grpc
      if (grpcWhere !== undefined) {
        // Loaded only here: the gRPC packages are optional peers.
        const { listenGrpc } = await import('./grpc.js')
        grpcListener = await listenGrpc(backend, grpcWhere).catch((error: unknown) => {
          server.close()
          throw error
        })
      }
      const grpcUrl = grpcListener?.url
      logger.info(
        {
          url,
          ...(grpcUrl === undefined ? {} : { grpcUrl }),
          routes: settings.routes.length,
          trustedProxies: settings.verify.trustedProxies,
        },
        'verify service listening',
      )
      const bound = { url, host: address.address, port: address.port }
      return grpcUrl === undefined ? bound : { ...bound, grpcUrl }
    },
    close() {
      closed ??= shutdown()
      return closed
    },
  }
}
