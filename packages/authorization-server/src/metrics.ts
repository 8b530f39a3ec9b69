/**
 * Prometheus metrics (`/metrics`), one registry per server instance.
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 * @packageDocumentation
 */
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
