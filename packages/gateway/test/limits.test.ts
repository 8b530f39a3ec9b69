/**
 * Limits that hold under abuse at the gateway, over real HTTP on 127.0.0.1: headers over
 * `limits.headerBytes` get 431, a declared or streamed body over `limits.bodyBytes` gets 413
 * and never reaches the upstream, and a slow client (slowloris) is cut off within
 * `limits.requestTimeoutMs`.
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oversizedHeader, slowloris } from '@keybound/test-kit/abusive-clients'
import { send } from './support/http.js'
import { dpopHeaders, type RunningGateway, startHarness, type Harness } from './support/fixture.js'

const REQUEST_TIMEOUT_MS = 1_000
let harness: Harness
let running: RunningGateway

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', scope: 'items:write' })
  running = await harness.gateway({
    limits: { bodyBytes: 1024, headerBytes: 4096, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    log: { level: 'silent' },
  })
})

afterAll(async () => {
  await harness?.close()
})

describe('gateway limits', () => {
  it('answers 431 to headers over limits.headerBytes', async () => {
    expect(await oversizedHeader(`${running.url}/items/1`, 5000)).toBe(431)
    expect(await oversizedHeader(`${running.url}/items/1`, 500)).toBe(401)
  })

  it('answers 413 to a declared body over limits.bodyBytes, before the upstream sees it', async () => {
    const hits = harness.upstream.hits()
    const reply = await send(`${running.url}/upload`, {
      method: 'POST',
      headers: await dpopHeaders(harness.key, harness.token, 'POST', '/upload', [
        ['content-type', 'text/plain'],
      ]),
      body: 'a'.repeat(2048),
    })
    expect(reply.status).toBe(413)
    expect(harness.upstream.hits()).toBe(hits)
  })

  it('cuts off a slowloris client within limits.requestTimeoutMs (plus the check interval)', async () => {
    const heldMs = await slowloris(running.url)
    expect(heldMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50)
    expect(heldMs).toBeLessThan(REQUEST_TIMEOUT_MS + 1_500)
    console.info(`gateway: slowloris cut off after ${Math.round(heldMs)} ms`)
  })
  it('cuts off a client that sends its headers and then drips the body', async () => {
    // Headers complete, then one byte every 150 ms of a 200-byte body: the whole request must
    // arrive within requestTimeoutMs, whether it is being proxied or was already refused.
    const dripFor = async (headers: Array<[string, string]>): Promise<number> => {
      const url = new URL(running.url)
      const started = performance.now()
      return new Promise<number>((resolve) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          const lines = ['POST /upload HTTP/1.1', `Host: ${url.host}`, 'Content-Length: 200']
          for (const [name, value] of headers) lines.push(`${name}: ${value}`)
          socket.write(`${lines.join('\r\n')}\r\n\r\n`)
          const drip = setInterval(() => socket.write('a'), 150)
          const giveUp = setTimeout(() => socket.destroy(), 10_000)
          socket.on('error', () => undefined)
          socket.on('close', () => {
            clearInterval(drip)
            clearTimeout(giveUp)
            resolve(performance.now() - started)
          })
        })
      })
    }
    const accepted = await dripFor(
      await dpopHeaders(harness.key, harness.token, 'POST', '/upload', [
        ['content-type', 'text/plain'],
      ]),
    )
    const refused = await dripFor([['content-type', 'text/plain']])
    console.info(
      `gateway: body drip cut off after ${Math.round(accepted)} ms (proxied), ${Math.round(refused)} ms (refused)`,
    )
    for (const elapsed of [accepted, refused]) {
      expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50)
      expect(elapsed).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000)
    }
  })
})
