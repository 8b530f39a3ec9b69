/**
 * The client in real Chromium (Debian `chromium`, driven by playwright-core): the page's key is
 * a non-extractable CryptoKey kept in IndexedDB, it survives a reload, and the page's DPoP fetch
 * gets through a real @keybound/server resource server on another loopback origin (CORS, RS
 * nonce challenge and retry included).
 */
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '@keybound/test-kit/chromium'
import { startServer, type LoopbackServer } from './support/http.js'
import { startProtectedApi, type ProtectedApi } from './support/protected-api.js'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const here = dirname(fileURLToPath(import.meta.url))
const OUTPUT = join(here, '..', 'test-output')

let pageServer: LoopbackServer
let api: ProtectedApi
let issuer: TestIssuer
let context: BrowserContext

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [join(here, 'browser', 'page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // The browser conditions: @keybound/core must resolve to its WebCrypto build, never node:crypto.
    conditions: ['browser', 'import', 'default'],
    logLevel: 'silent',
  })
  const script = bundle.outputFiles[0]!.text
  if (/node:crypto|createHash\(/.test(script))
    throw new Error('the browser bundle pulled in the node backend')
  pageServer = await startServer((request) => {
    const path = new URL(request.url).pathname
    if (path === '/page.js')
      return new Response(script, { headers: { 'content-type': 'text/javascript' } })
    return new Response(
      '<!doctype html><meta charset="utf-8"><title>keybound</title><body><script type="module" src="/page.js"></script>',
      {
        headers: { 'content-type': 'text/html' },
      },
    )
  })
  api = await startProtectedApi()
  // The issuer needs the API's URL first: it is the audience of every token.
  issuer = await startTestIssuer({ audience: api.resource, scope: 'api:read' })
  await api.trust({ issuer: issuer.issuer, jwksUri: issuer.jwksUri })
  context = await launchChromium()
}, 60_000)

afterAll(async () => {
  await context?.close()
  await Promise.all([pageServer?.close(), api?.close(), issuer?.close()])
})

describe('@keybound/client in Chromium', () => {
  it('keeps a non-extractable key in IndexedDB across a reload and calls a real resource server', async () => {
    const page = context.pages()[0] ?? (await context.newPage())
    await page.goto(`${pageServer.url}/`)
    await page.waitForFunction(() => 'keybound' in window)
    type PageApi = {
      keybound: {
        init(): Promise<Record<string, unknown>>
        call(url: string, token: string): Promise<Record<string, unknown>>
      }
    }
    const first = await page.evaluate(() => (window as unknown as PageApi).keybound.init())
    expect(first).toMatchObject({ alg: 'ES256', extractable: false, isKeyObject: true })
    // WebCrypto refuses to export a non-extractable key: page script can sign, never read it.
    expect(first.exportError).toBe('InvalidAccessError')

    await page.reload()
    await page.waitForFunction(() => 'keybound' in window)
    const second = await page.evaluate(() => (window as unknown as PageApi).keybound.init())
    expect(second.jkt).toBe(first.jkt)

    const token = await issuer.mint({ jkt: first.jkt as string })
    const before = api.statuses.length
    const result = await page.evaluate(
      ([url, accessToken]) => (window as unknown as PageApi).keybound.call(url!, accessToken!),
      [`${api.resource}/browser`, token],
    )
    expect(result).toMatchObject({
      status: 200,
      secondStatus: 200,
      body: { jkt: first.jkt, subject: 'alice' },
    })
    // Cross-origin: the RS nonce challenge was readable (exposed headers) and answered once.
    expect(api.statuses.slice(before)).toEqual([401, 200, 200])

    await mkdir(OUTPUT, { recursive: true })
    await page.screenshot({ path: join(OUTPUT, 'browser-key-store.png') })
  })
})
