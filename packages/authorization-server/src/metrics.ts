/**
 * Prometheus metrics (`/metrics`), one registry per server instance, served on a separate
 * listener (`metrics.port`) or, when the operator asks for it, on the main one.
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 * @packageDocumentation
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

/** The metrics of one server. */
export interface Metrics {
  registry: Registry
  tokens: Counter<'grant_type' | 'token_type'>
  errors: Counter<'endpoint' | 'error'>
  duration: Histogram<'route' | 'status'>
}

/**
 * Creates the registry with process metrics and the server's counters.
 * @example
 * ```ts
 * const metrics = createMetrics()
 * metrics.tokens.inc({ grant_type: 'client_credentials', token_type: 'DPoP' })
 * ```
 * @see https://prometheus.io/docs/practices/naming/
 */
export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'keybound_as_' })
  return {
    registry,
    tokens: new Counter({
      name: 'keybound_as_tokens_issued_total',
      help: 'Access tokens issued, by grant type and token type',
      labelNames: ['grant_type', 'token_type'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'keybound_as_errors_total',
      help: 'OAuth error responses, by endpoint and error code',
      labelNames: ['endpoint', 'error'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'keybound_as_request_duration_seconds',
      help: 'Request duration by route and status',
      labelNames: ['route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  }
}

/** A running metrics listener. */
export interface MetricsListener {
  /** `http://host:port/metrics`. */
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves `GET /metrics` of `registry` on its own address, away from the public listener, so
 * that a firewall or a loopback bind keeps them private; everything else gets 404.
 * @example
 * ```ts
 * const listener = await listenForMetrics(metrics.registry, { host: '127.0.0.1', port: 9464 })
 * ```
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 */
export async function listenForMetrics(
  registry: Registry,
  address: { host: string; port: number },
): Promise<MetricsListener> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => resolve())
  })
  const bound = server.address() as AddressInfo
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
  return {
    url: `http://${host}:${bound.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
