/**
 * CORS as a browser applies it: a page in headless Chromium on one origin calls the gateway on
 * another with `Authorization: DPoP` and `DPoP`. The browser sends its own preflight, refuses
 * the call unless granted, and lets the page read only exposed headers: the page must be able
 * to read a 401's `WWW-Authenticate` and a `use_dpop_nonce` answer's `DPoP-Nonce`.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof } from '@keybound/core'
import { openBrowserPage, type BrowserPage } from './support/browser.js'
import { PUBLIC_BASE, startHarness, type Harness } from './support/fixture.js'

let harness: Harness
let page: BrowserPage
let app: Server
let appOrigin: string

/** What the page saw of one `fetch`, or the error a refused CORS call gives it. */
interface Seen {
  status?: number
  wwwAuthenticate?: string | null
  nonce?: string | null
  body?: string
  error?: string
}

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', scope: 'items:read' })
  // The page's own origin: a bare page on another loopback port than the gateway's.
  app = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>')
  })
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
  appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
  page = await openBrowserPage()
  await page.goto(`${appOrigin}/`)
}, 60_000)

afterAll(async () => {
  await page?.close()
  await new Promise((resolve) => app?.close(resolve))
  await harness?.close()
})

/** Calls `url` from the page with `headers`; returns what the page could read. */
function fetchFromPage(url: string, headers: Record<string, string>): Promise<Seen> {
  return page.evaluate<Seen>(`(async () => {
    try {
      const response = await fetch(${JSON.stringify(url)}, { headers: ${JSON.stringify(headers)} })
      return {
        status: response.status,
        wwwAuthenticate: response.headers.get('www-authenticate'),
        nonce: response.headers.get('dpop-nonce'),
        body: await response.text(),
      }
    } catch (error) {
      return { error: String(error) }
    }
  })()`)
}

async function dpop(path: string, nonce?: string): Promise<Record<string, string>> {
  const proof = await createProof(harness.key, {
    htm: 'GET',
    htu: PUBLIC_BASE + path,
    accessToken: harness.token,
    ...(nonce === undefined ? {} : { nonce }),
  })
  return { authorization: `DPoP ${harness.token}`, dpop: proof }
}

const upstreamOptions = () => harness.upstream.received.filter((r) => r.method === 'OPTIONS')

describe('a browser page on an allowed origin', () => {
  it('reads the DPoP challenge of a 401', async () => {
    const running = await harness.gateway({ cors: { origins: [appOrigin] } })
    const seen = await fetchFromPage(`${running.url}/items/1`, {})
    expect(seen).toMatchObject({ status: 401, wwwAuthenticate: 'DPoP algs="ES256"' })
  })

  it('calls a protected route with DPoP: the preflight is the gateway’s, the call goes through', async () => {
    const running = await harness.gateway({ cors: { origins: [appOrigin] } })
    const seen = await fetchFromPage(`${running.url}/items/1`, await dpop('/items/1'))
    expect(seen.error).toBeUndefined()
    expect(seen.status).toBe(200)
    expect(JSON.parse(seen.body!)).toMatchObject({ method: 'GET', url: '/items/1' })
    expect(harness.upstream.received.at(-1)!.headers['x-keybound-subject']).toBe('alice')
    // The browser did send a preflight, and it was answered by the gateway, not the upstream.
    expect(running.logs.join('')).toContain('"outcome":"preflight"')
    expect(upstreamOptions()).toEqual([])
  })

  it('reads DPoP-Nonce from use_dpop_nonce and retries with it', async () => {
    const running = await harness.gateway(
      { cors: { origins: [appOrigin] }, nonces: { secretEnv: 'GATEWAY_NONCE_SECRET' } },
      { env: { GATEWAY_NONCE_SECRET: 'n'.repeat(40) } },
    )
    const first = await fetchFromPage(`${running.url}/items/1`, await dpop('/items/1'))
    expect(first.status).toBe(401)
    expect(first.wwwAuthenticate).toContain('error="use_dpop_nonce"')
    expect(first.nonce).toMatch(/^[\w.-]+$/)
    const second = await fetchFromPage(
      `${running.url}/items/1`,
      await dpop('/items/1', first.nonce!),
    )
    expect(second.status).toBe(200)
  })
})

describe('a browser page on an origin not allowed', () => {
  it('is stopped by its browser at the preflight: the call never leaves it', async () => {
    const running = await harness.gateway({ cors: { origins: ['https://elsewhere.example'] } })
    const hits = harness.upstream.hits()
    const seen = await fetchFromPage(`${running.url}/items/1`, await dpop('/items/1'))
    expect(seen.status).toBeUndefined()
    expect(seen.error).toMatch(/TypeError/)
    expect(running.logs.join('')).toContain('"reason":"cors_refused"')
    expect(harness.upstream.hits()).toBe(hits)
  })

  it('cannot read a response that carries no grant', async () => {
    const running = await harness.gateway({ cors: { origins: ['https://elsewhere.example'] } })
    const seen = await fetchFromPage(`${running.url}/items/1`, {})
    expect(seen.error).toMatch(/TypeError/)
  })
})
