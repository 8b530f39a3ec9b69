/**
 * Bodies stream both ways through the gateway (nothing is buffered), upstream failures become
 * 504/502, and a graceful shutdown lets a request in flight finish.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { open, send } from './support/http.js'
import {
  baseConfig,
  dpopHeaders,
  startGateway,
  type RunningGateway,
  startHarness,
  type Harness,
} from './support/fixture.js'

const MB = 1024 * 1024
const BODY_BYTES = 20 * MB

let harness: Harness
let running: RunningGateway

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', scope: 'items:read items:write' })
  running = await harness.gateway({ limits: { bodyBytes: 32 * MB } })
})

afterAll(async () => {
  await harness?.close()
})

/** Rejects when `promise` takes longer than `ms`: a buffering gateway would hang here. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms).unref(),
    ),
  ])
}

/** 20 MB in 1 MB chunks; the first MB goes out alone, the rest only once the upstream has it. */
async function uploadInTwoSteps(url: string, chunked: boolean) {
  const chunks = Array.from({ length: BODY_BYTES / MB }, () => randomBytes(MB))
  const expected = createHash('sha256')
  for (const chunk of chunks) expected.update(chunk)
  const body = new PassThrough()
  const extra: Array<[string, string]> = [['content-type', 'application/octet-stream']]
  extra.push(chunked ? ['transfer-encoding', 'chunked'] : ['content-length', String(BODY_BYTES)])
  const responsePromise = send(`${url}/upload`, {
    method: 'PUT',
    headers: await dpopHeaders(harness.key, harness.token, 'PUT', '/upload', extra),
    body,
  })
  body.write(chunks[0])
  // Only a gateway that streams lets the upstream see bytes before the client sent them all.
  await within(harness.upstream.bytesSeen(MB), 5_000, 'the upstream receiving the first megabyte')
  for (const chunk of chunks.slice(1)) body.write(chunk)
  body.end()
  const response = await responsePromise
  return { response, sha256: expected.digest('hex') }
}

describe('streaming', () => {
  it('streams a 20 MB request body with Content-Length to the upstream', async () => {
    const { response, sha256 } = await uploadInTwoSteps(running.url, false)
    expect(response.status).toBe(200)
    expect(JSON.parse(response.text)).toEqual({
      method: 'PUT',
      url: '/upload',
      bytes: BODY_BYTES,
      sha256,
    })
    expect(harness.upstream.received.at(-1)!.headers['content-length']).toBe(String(BODY_BYTES))
  })

  it('streams a 20 MB chunked request body to the upstream', async () => {
    const { response, sha256 } = await uploadInTwoSteps(running.url, true)
    expect(response.status).toBe(200)
    expect(JSON.parse(response.text)).toMatchObject({ bytes: BODY_BYTES, sha256 })
  })

  it('streams the response back: the first chunk arrives before the upstream has finished', async () => {
    const response = await open(`${running.url}/stream`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/stream'),
    })
    expect(response.statusCode).toBe(200)
    const iterator = response[Symbol.asyncIterator]()
    const first = await within(iterator.next(), 5_000, 'the first response chunk')
    expect(String(first.value)).toBe('first chunk\n')
    harness.upstream.releaseStream()
    let rest = ''
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next())
      rest += String(next.value)
    expect(rest).toBe('chunk 0\nchunk 1\nchunk 2\nlast\n')
  })

  it('holds the upstream back while the client is not reading (backpressure), and cuts it when the client leaves', async () => {
    const response = await open(`${running.url}/flood?mb=256`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/flood'),
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-length']).toBe(String(256 * MB))
    const iterator = response[Symbol.asyncIterator]()
    await within(iterator.next(), 5_000, 'the first response chunk')
    // The client reads nothing more. A gateway that buffered would drain all 256 MB from the
    // upstream in about a second; one that passes backpressure on stops at the socket buffers.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const writtenWhilePaused = harness.upstream.flood.written
    expect(writtenWhilePaused).toBeLessThan(64 * MB)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(harness.upstream.flood.written - writtenWhilePaused).toBeLessThan(MB)
    // The client goes away: the gateway gives up the upstream request instead of reading on.
    response.destroy()
    expect(await within(harness.upstream.flood.ended, 5_000, 'the upstream response ending')).toBe(
      'cut',
    )
    expect(harness.upstream.flood.written).toBeLessThan(256 * MB)
  })

  it('refuses a chunked body over limits.bodyBytes with 413; the upstream never gets it whole', async () => {
    const small = await startGateway(
      baseConfig(harness.issuer, harness.upstream, { limits: { bodyBytes: 64 * 1024 } }),
    )
    const receivedBefore = harness.upstream.received.length
    try {
      const body = new PassThrough()
      const responsePromise = send(`${small.url}/upload`, {
        method: 'POST',
        headers: await dpopHeaders(harness.key, harness.token, 'POST', '/upload', [
          ['transfer-encoding', 'chunked'],
        ]),
        body,
      })
      // Bounded: 16 × 16 KiB = 256 KiB, four times the limit.
      for (let i = 0; i < 16; i++) body.write(Buffer.alloc(16 * 1024))
      body.end()
      const response = await responsePromise.catch((error: Error) => ({
        status: -1,
        text: error.message,
      }))
      expect(response.status).toBe(413)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(harness.upstream.received.length).toBe(receivedBefore)
    } finally {
      await small.gateway.close()
    }
  })
})

describe('upstream failures', () => {
  it('an upstream slower than harness.upstream.timeoutMs: 504', async () => {
    const impatient = await startGateway(
      baseConfig(harness.issuer, harness.upstream, {
        upstream: { url: harness.upstream.url, timeoutMs: 200 },
      }),
    )
    try {
      const response = await send(`${impatient.url}/slow?ms=1000`, {
        headers: await dpopHeaders(harness.key, harness.token, 'GET', '/slow'),
      })
      expect(response.status).toBe(504)
      expect(JSON.parse(response.text)).toEqual({ error: 'upstream_timeout' })
      expect(await impatient.gateway.metrics.metrics()).toMatch(
        /keybound_gateway_upstream_errors_total\{kind="timeout"\} 1/,
      )
    } finally {
      await impatient.gateway.close()
    }
  })

  it('an upstream that is down: 502', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise((resolve) => probe.close(resolve))
    const orphan = await startGateway(
      baseConfig(harness.issuer, { url: `http://127.0.0.1:${port}` }),
    )
    try {
      const response = await send(`${orphan.url}/items/1`, {
        headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1'),
      })
      expect(response.status).toBe(502)
      expect(JSON.parse(response.text)).toEqual({ error: 'bad_gateway' })
      expect(await orphan.gateway.metrics.metrics()).toMatch(
        /keybound_gateway_upstream_errors_total\{kind="connect"\} 1/,
      )
    } finally {
      await orphan.gateway.close()
    }
  })
})

describe('graceful shutdown', () => {
  it('finishes a request in flight, then stops accepting connections', async () => {
    const draining = await startGateway(baseConfig(harness.issuer, harness.upstream))
    const hits = harness.upstream.hits()
    const inFlight = send(`${draining.url}/slow?ms=600`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/slow'),
    })
    // Wait until the request is at the upstream, so it is truly in flight when close starts.
    for (let i = 0; i < 100 && harness.upstream.hits() === hits; i++)
      await new Promise((resolve) => setTimeout(resolve, 10))
    expect(harness.upstream.hits()).toBe(hits + 1)
    const started = Date.now()
    const closed = draining.gateway.close()
    const response = await inFlight
    expect(response.status).toBe(200)
    expect(response.text).toBe('slow done')
    await closed
    expect(Date.now() - started).toBeLessThan(3_000)
    await expect(send(`${draining.url}/items/1`)).rejects.toThrow(/ECONNREFUSED/)
    expect(draining.logs.join('')).toContain('gateway closed')
  })
})
