/**
 * Child process of the gateway suite: one server on 127.0.0.1, started with `fork` so that the
 * parent can read its CPU time over IPC (`{ type: 'cpu' }` → `{ type: 'cpu', usage }`).
 * Usage: `gateway-child.js <kind> <port> <issuer> <jwksUri> <audience> [upstreamPort]`.
 *
 *   upstream: a plain `node:http` API answering `GET /items` with `{"ok":true,"sub":…}` from the
 *             gateway's identity header (what an API behind the gateway does);
 *   gateway:  `@keybound/gateway` in front of the upstream at `upstreamPort`, route `/items`
 *             (scope `read`), in-memory replay store, access log off (the baseline has none);
 *   direct:   the same verification in-process: Fastify + `@keybound/server/fastify`, answering
 *             the same body itself;
 *   bare-proxy: the ceiling of any verifying gateway here: the `direct` app's verification,
 *             then the leanest forward through an undici pool (the gateway's own client): one
 *             identity header, the upstream's answer streamed back as it is, and none of the
 *             gateway's timeouts, limits, metrics or header rewriting.
 *   verify:   the gateway's verify service (`keybound authz`) for a proxy listening at
 *             `upstreamPort` (its public base URL; the verify service's own port when it is
 *             asked alone), same route, scope and replay store.
 *   allow:    the ceiling of any check service: a bare `node:http` server that answers every
 *             request with 204 at once, verifying nothing (the cost of the HTTP hop alone).
 */
import {
  createServer,
  type OutgoingHttpHeaders,
  type RequestListener,
  type ServerResponse,
} from 'node:http'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { dpopPlugin } from '@keybound/server/fastify'
import { createGateway, createVerifyService } from '@keybound/gateway'
import Fastify, { type FastifyInstance } from 'fastify'
import { Pool, type Dispatcher } from 'undici'

export type GatewayAppKind = 'upstream' | 'gateway' | 'direct' | 'bare-proxy' | 'verify' | 'allow'

export type GatewayChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'cpu'; usage: NodeJS.CpuUsage }
  | { type: 'error'; message: string }

const [kind, portText, issuer, jwksUri, audience, upstreamPort] = process.argv.slice(2) as [
  GatewayAppKind,
  string,
  string,
  string,
  string,
  string | undefined,
]
const port = Number(portText)
const publicBaseUrl = `http://127.0.0.1:${port}`
const send = (message: GatewayChildMessage): void => void process.send?.(message)

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage() })
})
// The parent going away ends this process too.
process.on('disconnect', () => process.exit(0))

// A plain `node:http` server on 127.0.0.1 that keeps connections open as long as the load runs.
async function listenPlain(handler: RequestListener): Promise<void> {
  const server = createServer(handler)
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
}

async function startUpstream(): Promise<void> {
  await listenPlain((req, res) => {
    const body = JSON.stringify({ ok: true, sub: req.headers['x-keybound-subject'] })
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    res.end(body)
  })
}

// No body, no headers of its own: what is left is Node's HTTP parsing and answering.
async function startAllow(): Promise<void> {
  await listenPlain((_req, res) => {
    res.writeHead(204)
    res.end()
  })
}

async function startGateway(): Promise<void> {
  const gateway = createGateway({
    listen: { host: '127.0.0.1', port },
    publicBaseUrl,
    upstream: { url: `http://127.0.0.1:${upstreamPort}`, timeoutMs: 10_000 },
    tokens: { jwt: { issuer, audience, jwksUri } },
    routes: [{ path: '/items', methods: ['GET'], scopes: ['read'] }],
    log: { level: 'warn' },
  })
  await gateway.listen()
}

async function startVerify(): Promise<void> {
  const service = createVerifyService({
    listen: { host: '127.0.0.1', port },
    publicBaseUrl: `http://127.0.0.1:${upstreamPort ?? port}`,
    tokens: { jwt: { issuer, audience, jwksUri } },
    routes: [{ path: '/items', methods: ['GET'], scopes: ['read'] }],
    log: { level: 'warn' },
  })
  await service.listen()
}

// Fastify with the in-process verification that `direct` and `bare-proxy` share.
async function verifyingApp(): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 })
  const resourceServer = createResourceServer({
    publicBaseUrl,
    accessTokens: jwtAccessTokens({ issuer, audience, jwksUri }),
  })
  await app.register(dpopPlugin, { resourceServer })
  return app
}

async function startDirect(): Promise<void> {
  const app = await verifyingApp()
  app.get('/items', { preHandler: app.dpop({ scopes: ['read'] }) }, async (request) => ({
    ok: true,
    sub: request.dpop?.subject,
  }))
  await app.listen({ port, host: '127.0.0.1' })
}

// The leanest forward there is: a fixed identity header out, the upstream's answer streamed
// back as it is, no timeouts, limits, metrics or header rewriting.
function forwardBare(pool: Pool, path: string, subject: string, res: ServerResponse): void {
  const handler: Dispatcher.DispatchHandler = {
    // Its presence tells undici this is a handler of the current (controller) kind.
    onRequestStart() {},
    onResponseStart(_controller, statusCode, headers) {
      res.writeHead(statusCode, headers as OutgoingHttpHeaders)
    },
    onResponseData(_controller, chunk) {
      res.write(chunk)
    },
    onResponseEnd() {
      res.end()
    },
    onResponseError(_controller, error) {
      res.destroy(error)
    },
  }
  pool.dispatch({ path, method: 'GET', headers: { 'x-keybound-subject': subject } }, handler)
}

async function startBareProxy(): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`)
  const app = await verifyingApp()
  app.get('/items', { preHandler: app.dpop({ scopes: ['read'] }) }, (request, reply) => {
    reply.hijack()
    forwardBare(pool, request.url, request.dpop?.subject ?? '', reply.raw)
  })
  await app.listen({ port, host: '127.0.0.1' })
}

try {
  if (kind === 'upstream') await startUpstream()
  else if (kind === 'gateway') await startGateway()
  else if (kind === 'direct') await startDirect()
  else if (kind === 'bare-proxy') await startBareProxy()
  else if (kind === 'verify') await startVerify()
  else if (kind === 'allow') await startAllow()
  else throw new Error(`unknown app kind ${String(kind)}`)
  send({ type: 'ready', port })
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  process.exit(1)
}
