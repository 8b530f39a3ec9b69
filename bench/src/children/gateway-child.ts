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
 *             the same body itself.
 */
import { createServer } from 'node:http'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { dpopPlugin } from '@keybound/server/fastify'
import { createGateway } from '@keybound/gateway'
import Fastify from 'fastify'

export type GatewayAppKind = 'upstream' | 'gateway' | 'direct'

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

async function startUpstream(): Promise<void> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ ok: true, sub: req.headers['x-keybound-subject'] })
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    res.end(body)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
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

async function startDirect(): Promise<void> {
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 })
  const resourceServer = createResourceServer({
    publicBaseUrl,
    accessTokens: jwtAccessTokens({ issuer, audience, jwksUri }),
  })
  await app.register(dpopPlugin, { resourceServer })
  app.get('/items', { preHandler: app.dpop({ scopes: ['read'] }) }, async (request) => ({
    ok: true,
    sub: request.dpop?.subject,
  }))
  await app.listen({ port, host: '127.0.0.1' })
}

try {
  if (kind === 'upstream') await startUpstream()
  else if (kind === 'gateway') await startGateway()
  else if (kind === 'direct') await startDirect()
  else throw new Error(`unknown app kind ${String(kind)}`)
  send({ type: 'ready', port })
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  process.exit(1)
}
