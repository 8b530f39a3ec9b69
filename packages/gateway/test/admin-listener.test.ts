/**
 * Metrics describe the traffic (outcomes, refusal reasons, process figures) to whoever can read
 * them, so they are off the public listener unless the operator opts in; they are served on a
 * separate admin listener. Health checks stay on the public listener for load balancers.
 */
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveGatewayConfig } from '../src/index.js'
import { send } from './support/http.js'
import {
  baseConfig,
  dpopHeaders,
  startGateway,
  startHarness,
  type Harness,
  type RunningGateway,
} from './support/fixture.js'

let harness: Harness

beforeAll(async () => {
  harness = await startHarness()
})

afterAll(() => harness.close())

function gatewayWith(admin: Record<string, unknown> | undefined): Promise<RunningGateway> {
  return harness.gateway(admin === undefined ? {} : { admin })
}

const METRIC = /keybound_gateway_requests_total\{outcome="accepted",reason=""\} 1/

describe('metrics', () => {
  it('are not on the public listener by default, and the path is never forwarded', async () => {
    const running = await gatewayWith(undefined)
    const hits = harness.upstream.hits()
    for (const method of ['GET', 'HEAD', 'POST']) {
      const response = await send(`${running.url}/_keybound/metrics`, { method })
      expect(response.status, method).toBe(404)
    }
    expect((await send(`${running.url}/_keybound/healthz`)).status).toBe(200)
    expect(harness.upstream.hits()).toBe(hits)
    expect(running.adminUrl).toBeUndefined()
    expect(running.logs.join('')).toContain('"metrics":"not served (set admin.listen)"')
  })

  it('are served on the admin listener, with health; the public one still has health only', async () => {
    const running = await gatewayWith({ listen: { host: '127.0.0.1', port: 0 } })
    const adminUrl = running.adminUrl!
    expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(adminUrl).not.toBe(running.url)
    const accepted = await send(`${running.url}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1'),
    })
    expect(accepted.status).toBe(200)

    const metrics = await send(`${adminUrl}/_keybound/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/)
    expect(metrics.text).toMatch(METRIC)
    const health = await send(`${adminUrl}/_keybound/healthz`)
    expect(JSON.parse(health.text)).toEqual({ status: 'ok', replay: 'ready' })

    expect((await send(`${running.url}/_keybound/metrics`)).status).toBe(404)
    expect((await send(`${running.url}/_keybound/healthz`)).status).toBe(200)
  })

  it('the admin listener forwards nothing', async () => {
    const running = await gatewayWith({ listen: { port: 0 } })
    const hits = harness.upstream.hits()
    const response = await send(`${running.adminUrl!}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1'),
    })
    expect(response.status).toBe(404)
    expect(JSON.parse(response.text)).toEqual({ error: 'not_found' })
    expect(harness.upstream.hits()).toBe(hits)
  })

  it('admin.publicMetrics: true puts them back on the public listener', async () => {
    const running = await gatewayWith({ publicMetrics: true })
    await send(`${running.url}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1'),
    })
    const metrics = await send(`${running.url}/_keybound/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.text).toMatch(METRIC)
  })

  it('admin.metrics: false serves none, even on the admin listener', async () => {
    const running = await gatewayWith({ metrics: false, listen: { port: 0 } })
    expect((await send(`${running.adminUrl!}/_keybound/metrics`)).status).toBe(404)
    expect((await send(`${running.adminUrl!}/_keybound/healthz`)).status).toBe(200)
  })

  it('the admin listener stops with the gateway', async () => {
    const running = await startGateway(
      baseConfig(harness.issuer, harness.upstream, { admin: { listen: { port: 0 } } }),
    )
    await running.gateway.close()
    await expect(send(`${running.adminUrl!}/_keybound/healthz`)).rejects.toThrow(/ECONNREFUSED/)
  })
})

it('a public port that is taken leaves no admin listener behind', async () => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const adminPort = (probe.address() as AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  try {
    const config = baseConfig(harness.issuer, harness.upstream, {
      listen: { host: '127.0.0.1', port: (taken.address() as AddressInfo).port },
      admin: { listen: { port: adminPort } },
    })
    await expect(startGateway(config)).rejects.toThrow(/EADDRINUSE/)
    await expect(send(`http://127.0.0.1:${adminPort}/_keybound/healthz`)).rejects.toThrow(
      /ECONNREFUSED/,
    )
  } finally {
    await new Promise((resolve) => taken.close(resolve))
  }
})

it('bad admin settings are named by their path', () => {
  expect(() =>
    resolveGatewayConfig(
      baseConfig(harness.issuer, harness.upstream, {
        listen: { port: 8080 },
        admin: { metrics: false, publicMetrics: true, listen: { port: 8080, tls: true } },
      }),
    ),
  ).toThrow(
    /admin\.listen\.tls: is not a known setting[\s\S]*admin\.publicMetrics: cannot be true while admin\.metrics is false[\s\S]*admin\.listen\.port: must differ from listen\.port/,
  )
})
