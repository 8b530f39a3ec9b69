/**
 * `/metrics` stays off the public listener unless the operator says otherwise: served on a
 * separate listener (`metrics.port`, loopback by default) or, with `metrics.onMainListener`,
 * on the main one.
 */
import { afterEach, expect, it } from 'vitest'
import { resolveConfig } from '../src/index.js'
import { startServer, type TestServer } from './support.js'

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

it('serves no /metrics at all by default', async () => {
  server = await startServer('sqlite', { metrics: {} })
  expect((await fetch(server.url('/metrics'))).status).toBe(404)
  expect(server.server.metricsUrl()).toBeUndefined()
})

it('serves /metrics on a separate loopback listener only, with metrics.port', async () => {
  server = await startServer('sqlite', { metrics: { port: 0 } })
  expect((await fetch(server.url('/metrics'))).status).toBe(404)
  const url = new URL(server.server.metricsUrl()!)
  expect(url.hostname).toBe('127.0.0.1')
  expect(url.port).not.toBe(new URL(server.issuer).port)
  const metrics = await fetch(url)
  expect(metrics.status).toBe(200)
  expect(await metrics.text()).toContain('keybound_as_request_duration_seconds')
  expect((await fetch(new URL('/healthz', url))).status).toBe(404)
})

it('serves /metrics on the main listener only when metrics.onMainListener is true', async () => {
  server = await startServer('sqlite', { metrics: { onMainListener: true } })
  const metrics = await fetch(server.url('/metrics'))
  expect(metrics.status).toBe(200)
  expect(await metrics.text()).toContain('keybound_as_errors_total')
})

it('names every bad metrics setting', () => {
  expect(() =>
    resolveConfig({ metrics: { port: 70_000, host: '', onMainListener: 1, path: '/m' } }, {}),
  ).toThrow(
    expect.objectContaining({
      issues: [
        'metrics.path: is not a known setting',
        'metrics.port: must be a whole number from 0 to 65535',
        'metrics.host: must be a non-empty string',
        'metrics.onMainListener: must be true or false',
      ],
    }),
  )
})
