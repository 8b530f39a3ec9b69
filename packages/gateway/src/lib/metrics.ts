/**
 * Prometheus metrics of one gateway. Each gateway has its own registry, so several gateways in
 * one process (tests, blue/green in one runtime) never mix or collide on metric names.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What happened to a request, as a bounded label value. */
export type Outcome =
  'accepted' | 'public' | 'preflight' | 'rejected' | 'upstream_error' | 'aborted'

/** The metrics a gateway records. */
export interface GatewayMetrics {
  readonly registry: Registry
  /** Counts one finished request. `reason` is a stable code, never free text. */
  record(outcome: Outcome, reason: string, seconds: number): void
  /** Counts an upstream failure (`timeout`, `connect`, `reset`, …). */
  upstreamError(kind: string): void
}

/**
 * Builds the registry and its instruments.
 * @example
 * ```ts
 * const metrics = createMetrics()
 * metrics.record('accepted', '', 0.0012)
 * ```
 */
export function createMetrics(): GatewayMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({
    name: 'keybound_gateway_requests_total',
    help: 'Requests by outcome and reason (reason: the verdict code or the gateway refusal)',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'keybound_gateway_request_duration_seconds',
    help: 'Time from request to the end of the response, by outcome',
    labelNames: ['outcome'] as const,
    // Verification takes well under a millisecond; upstreams take what they take.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const upstreamErrors = new Counter({
    name: 'keybound_gateway_upstream_errors_total',
    help: 'Upstream failures by kind (timeout, connect, reset, other)',
    labelNames: ['kind'] as const,
    registers: [registry],
  })
  // Label sets are few and fixed (outcome × stable reason codes): resolving each once saves
  // prom-client a label hash per request on the hot path.
  const counters = new Map<string, { inc(): void }>()
  const histograms = new Map<string, { observe(value: number): void }>()
  return {
    registry,
    record(outcome, reason, seconds) {
      const key = `${outcome}\u0000${reason}`
      let counter = counters.get(key)
      if (counter === undefined) counters.set(key, (counter = requests.labels({ outcome, reason })))
      counter.inc()
      let histogram = histograms.get(outcome)
      if (histogram === undefined)
        histograms.set(outcome, (histogram = duration.labels({ outcome })))
      histogram.observe(seconds)
    },
    upstreamError(kind) {
      upstreamErrors.inc({ kind })
    },
  }
}
