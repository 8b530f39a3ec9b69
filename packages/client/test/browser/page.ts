/**
 * The browser test page: bundled with esbuild for the browser (so `@keybound/core` resolves to
 * its WebCrypto build) and driven by Playwright in real Chromium.
 */
import { createBrowserKeyStore, createDPoPFetch } from '@keybound/client'

const keys = createBrowserKeyStore({ database: 'keybound-test', name: 'page-key' })

async function init() {
  const key = await keys.getKey()
  let exportError = ''
  try {
    await crypto.subtle.exportKey('jwk', key.privateKey)
  } catch (error) {
    exportError = (error as Error).name
  }
  return {
    jkt: key.jkt,
    alg: key.alg,
    extractable: key.privateKey.extractable,
    exportError,
    isKeyObject: key.privateKey instanceof CryptoKey,
  }
}

async function call(url: string, accessToken: string) {
  const api = createDPoPFetch({
    fetch: window.fetch.bind(window),
    key: await keys.getKey(),
    accessToken,
  })
  const first = await api(url)
  const second = await api(url, { method: 'POST', body: JSON.stringify({ hello: 'world' }) })
  const text = await first.text()
  document.body.textContent = `status ${first.status}: ${text}`
  return { status: first.status, body: JSON.parse(text), secondStatus: second.status }
}

Object.assign(window, { keybound: { init, call } })
document.body.textContent = 'ready'
