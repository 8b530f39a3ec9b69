/**
 * The demo end to end in real Chromium (Debian `chromium`, driven by playwright-core) against
 * `keybound serve` as a child process: opened at 127.0.0.1 it moves to its own origin, sign in
 * on the (styled, strict-CSP) AS login page, call the API with DPoP, expiry with date, zone and
 * "in 4 min", a refresh shows the new token, every "steal the token" attempt refused with its
 * error, reload keeps the key, the session and the notes, a failed authorization redirect shows
 * the server's error and keeps the session, sign-out deletes the key. Writes the screenshots to
 * test-output/; with `KEYBOUND_UPDATE_SCREENSHOT=1` it runs on the default ports (4000-4002,
 * which must be free) and also writes the README's docs/demo.png and docs/sign-in.png (a plain
 * test run leaves the tracked files as they are).
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '@keybound/test-kit/chromium'
import { startPageCoverage, type PageCoverage } from '@keybound/test-kit/page-coverage'
import { REPO_ROOT, servePorts, startServe, type ServeProcess } from './support/stack.js'

const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url))
const UPDATE_SCREENSHOTS = process.env.KEYBOUND_UPDATE_SCREENSHOT === '1'
const DEFAULT_PORTS: [number, number, number] = [4000, 4001, 4002]

let stack: ServeProcess
let context: BrowserContext
let page: Page
let dataDir: string
let pageCoverage: PageCoverage | undefined
const cspViolations: string[] = []

beforeAll(async () => {
  await mkdir(OUTPUT, { recursive: true })
  dataDir = await mkdtemp(join(tmpdir(), 'keybound-demo-data-'))
  ;[stack, context] = await Promise.all([
    // The README's screenshots show the ports a reader's own `npm start` uses.
    (UPDATE_SCREENSHOTS ? Promise.resolve(DEFAULT_PORTS) : servePorts()).then((ports) =>
      startServe(dataDir, ports),
    ),
    launchChromium({
      viewport: { width: 1280, height: 900 },
      locale: 'en-US',
      timezoneId: 'UTC',
    }),
  ])
  page = context.pages()[0] ?? (await context.newPage())
  // The page script runs only here; page-server.ts builds it as src/page/app.js.
  pageCoverage = await startPageCoverage(page, {
    [new URL('/app.js', stack.urls.page).href]: fileURLToPath(
      new URL('../src/page/app.js', import.meta.url),
    ),
  })
  page.setDefaultTimeout(10_000)
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) cspViolations.push(message.text())
    // 400/401 answers are the point of the demo; other errors are not.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      console.error('[page]', message.text())
  })
}, 60_000)

afterEach(() => pageCoverage?.collect())

afterAll(async () => {
  await pageCoverage?.stop()
  await context?.close()
  const code = await stack?.stop()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
  expect(code).toBe(0) // a clean shutdown on SIGTERM
})

async function ready(): Promise<void> {
  await page.waitForSelector('body[data-ready="true"]')
}

async function status(): Promise<string> {
  return (await page.textContent('#status')) ?? ''
}

/** Copies a screenshot from test-output/ into docs/ when the README's pictures are updated. */
async function publishScreenshot(name: string): Promise<void> {
  if (!UPDATE_SCREENSHOTS) return
  // The README's pictures show the URLs a reader's own `npm start` prints.
  expect([stack.urls.issuer, stack.urls.api, stack.urls.page]).toEqual([
    'http://localhost:4000',
    'http://localhost:4001',
    'http://localhost:4002/',
  ])
  await copyFile(join(OUTPUT, name), join(REPO_ROOT, 'docs', name))
}

/** The access token this tab keeps (sessionStorage), decoded. */
async function storedToken(): Promise<{ expiresAt: number; claims: Record<string, unknown> }> {
  const stored = await page.evaluate(() => sessionStorage.getItem('keybound-demo:tokens'))
  const tokens = JSON.parse(stored!) as { accessToken: string; expiresAt: number }
  const payload = tokens.accessToken.split('.')[1]!
  return {
    expiresAt: tokens.expiresAt,
    claims: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
  }
}

/**
 * Clicks a sign-in button with the authorization request changed to name an API the AS does
 * not issue tokens for: the AS redirects back with invalid_target (RFC 8707), state and iss.
 */
async function failSignIn(button: string): Promise<void> {
  const authorize = (url: URL) => url.href.startsWith(`${stack.urls.issuer}/authorize?`)
  await page.route(authorize, (route) => {
    const url = new URL(route.request().url())
    url.searchParams.set('resource', 'http://localhost:1/not-an-api')
    return route.continue({ url: url.href })
  })
  try {
    await page.click(button)
    await expect.poll(status).toContain('Sign-in failed')
  } finally {
    await page.unroute(authorize)
  }
}

async function storedKey(): Promise<{ found: boolean; extractable?: boolean }> {
  return page.evaluate(
    () =>
      new Promise<{ found: boolean; extractable?: boolean }>((resolve, reject) => {
        const open = indexedDB.open('keybound-demo', 1)
        open.onupgradeneeded = () => open.result.createObjectStore('keys')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const get = open.result.transaction('keys').objectStore('keys').get('dpop-key')
          get.onsuccess = () => {
            const record = get.result as { privateKey?: CryptoKey } | undefined
            open.result.close()
            resolve(
              record?.privateKey === undefined
                ? { found: false }
                : { found: true, extractable: record.privateKey.extractable },
            )
          }
        }
      }),
  )
}

describe('the demo page in Chromium', () => {
  let jkt = ''

  it('opened at 127.0.0.1, moves to its own origin, where its key and sign-in live', async () => {
    const loopback = stack.urls.page.replace('//localhost:', '//127.0.0.1:')
    expect(loopback).not.toBe(stack.urls.page)
    const response = await page.goto(loopback)
    expect(page.url()).toBe(stack.urls.page)
    const redirect = response!.request().redirectedFrom()
    expect(redirect?.url()).toBe(loopback)
    expect((await redirect!.response())!.status()).toBe(307)
    await ready()
    expect(await status()).toContain('Signed out')
  })

  it('signs in with authorization code + PKCE + dpop_jkt on the AS login page', async () => {
    await page.goto(stack.urls.page)
    await ready()
    expect(await status()).toContain('Signed out')
    const [authorize] = await Promise.all([
      page.waitForRequest((request) => request.url().startsWith(`${stack.urls.issuer}/authorize`)),
      page.click('#sign-in'),
    ])
    const query = new URL(authorize.url()).searchParams
    expect(query.get('code_challenge_method')).toBe('S256')
    expect(query.get('dpop_jkt')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    await page.waitForSelector('input[name="username"]')
    await page.getByLabel('Username').fill('alice')
    await page.getByLabel('Password').fill(stack.passwords.alice!)
    // The AS page's own style is applied: its CSP allows it by hash, with no 'unsafe-inline'.
    const signIn = page.getByRole('button', { name: 'Sign in' })
    expect(await signIn.evaluate((button) => getComputedStyle(button).backgroundColor)).toBe(
      'rgb(11, 92, 173)',
    )
    expect(cspViolations).toEqual([])
    // The card and its surroundings, not the empty rest of a 900-pixel-high window.
    await page.screenshot({
      path: join(OUTPUT, 'sign-in.png'),
      clip: { x: 0, y: 0, width: 1280, height: 480 },
    })
    await publishScreenshot('sign-in.png')
    await signIn.click()
    await page.waitForURL(stack.urls.page) // the code is taken out of the address bar
    await ready()
    await page.waitForSelector('#signed-in:not([hidden])')
    expect(await page.textContent('#subject')).toBe('alice')
    jkt = (await page.textContent('#key-jkt')) ?? ''
    expect(jkt).toBe(query.get('dpop_jkt'))
    expect(await page.textContent('#token-jkt')).toBe(`${jkt} ✓ the same key`)
    expect(await storedKey()).toEqual({ found: true, extractable: false })
    // Expiry with date, time and zone, and how long is left (tokens live 5 minutes).
    const { expiresAt } = await storedToken()
    const expiry = page.locator('#token-expiry time')
    expect(await expiry.getAttribute('datetime')).toBe(new Date(expiresAt).toISOString())
    expect(await expiry.textContent()).toMatch(
      /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} [AP]M UTC \(in [45] min\)$/,
    )
    expect(await page.locator('#notes li').count()).toBe(0) // loaded: alice has none yet
  })

  it('calls the API with DPoP, answering the RS nonce challenge, and shows the proof', async () => {
    await page.click('#call-me')
    await page.waitForSelector('#inspector:not([hidden])')
    expect(await page.textContent('#response')).toMatch(/^HTTP 200/)
    const marked = await page.locator('#proof-claims mark').allTextContents()
    expect(marked.map((text) => text.split(':')[0])).toEqual(['"htm"', '"htu"', '"ath"', '"nonce"'])
    expect(await page.textContent('#proof-claims')).toContain(`"htu": "${stack.urls.api}/api/me"`)
    expect(await page.textContent('#proof-header')).toContain(`"(jkt)": "${jkt}"`)
    expect(await page.textContent('#token-claims')).toContain(`"jkt": "${jkt}"`)
    // The timeline shows the nonce challenge and the retry that answered it.
    // (The first API call is the notes list the page loads on sign-in.)
    const challenge = page.locator('#timeline li[data-error="use_dpop_nonce"]', {
      hasText: `${stack.urls.api}/api/`,
    })
    await expect.poll(() => challenge.count()).toBeGreaterThan(0)
    const retry = page.locator('#timeline li', { hasText: 'retry with the nonce' })
    await expect.poll(() => retry.count()).toBeGreaterThan(1) // at the AS (token) and the API

    await page.getByLabel('New note').fill('DPoP keeps stolen tokens useless')
    await page.getByRole('button', { name: 'POST /api/notes' }).click()
    await page.waitForSelector('#notes li')
    expect(await page.locator('#notes li').allTextContents()).toEqual([
      'DPoP keeps stolen tokens useless',
    ])
  })

  it('refreshes with the same key, visible in the timeline and the token panel', async () => {
    const before = (await storedToken()).claims.jti as string
    expect(await page.textContent('#token-claims')).toContain(`"jti": "${before}"`)
    await page.click('#refresh')
    await expect.poll(status).toContain('Tokens refreshed')
    const refresh = page.locator('#timeline li[data-status="200"]', {
      hasText: 'refresh token grant',
    })
    await expect.poll(() => refresh.count()).toBe(1)
    expect(await page.textContent('#token-jkt')).toBe(`${jkt} ✓ the same key`)
    const after = (await storedToken()).claims.jti as string
    expect(after).not.toBe(before)
    const panel = (await page.textContent('#token-claims')) ?? ''
    expect(panel).toContain(`"jti": "${after}"`)
    expect(panel).not.toContain(before)
  })

  it('refuses every use of the stolen token, each with its WWW-Authenticate error', async () => {
    await page.click('#attack-all')
    await expect.poll(() => page.locator('#attack-results li.attack').count()).toBe(4)
    const expected = {
      bearer: /^WWW-Authenticate: Bearer error="invalid_token"/,
      'own-key': /^WWW-Authenticate: DPoP error="invalid_token"/,
      replay: /^WWW-Authenticate: DPoP error="invalid_dpop_proof"/,
      'other-url': /^WWW-Authenticate: DPoP error="invalid_dpop_proof"/,
    }
    for (const [name, challenge] of Object.entries(expected)) {
      const result = page.locator(`#attack-results li[data-attack="${name}"]`)
      expect(await result.getAttribute('data-status'), name).toBe('401')
      expect(await result.locator('.www-authenticate').textContent(), name).toMatch(challenge)
    }
    // The README screenshot: signed in, a call inspected, the attacks refused, the timeline.
    await page.screenshot({ path: join(OUTPUT, 'demo.png'), fullPage: true })
    await publishScreenshot('demo.png')
  })

  it('is readable on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    await page.evaluate(() => window.scrollTo(0, 0))
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    )
    expect(overflow).toBeLessThanOrEqual(0)
    await page.screenshot({ path: join(OUTPUT, 'demo-phone.png'), fullPage: false })
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  it('keeps the key, the session and the notes across a reload', async () => {
    await page.reload()
    await ready()
    expect(await status()).toContain('Session restored')
    expect(await page.textContent('#key-jkt')).toBe(jkt)
    expect(await page.locator('#notes li').allTextContents()).toEqual([
      'DPoP keeps stolen tokens useless',
    ])
    await page.click('#call-me')
    await expect.poll(status).toContain('GET /api/me: HTTP 200')
  })

  it("after a failed authorization redirect, shows the server's error and keeps the session", async () => {
    await failSignIn('#sign-in-again')
    await ready()
    expect(page.url()).toBe(stack.urls.page)
    expect(await status()).toBe(
      'Sign-in failed: the authorization server answered invalid_target: "resource" is not a ' +
        'resource this server issues tokens for. The session you had is still valid; Sign in ' +
        'again to retry.',
    )
    await page.waitForSelector('#signed-in:not([hidden])')
    expect(await page.textContent('#subject')).toBe('alice')
    expect(await page.isEnabled('#sign-in-again')).toBe(true)
    expect(await page.locator('#notes li').count()).toBe(1)
    await page.click('#call-me')
    await expect.poll(status).toContain('GET /api/me: HTTP 200')
  })

  it('is usable from the keyboard', async () => {
    // The status still says HTTP 200 from the test before, so the call is counted in the
    // timeline instead (200 entries at most; far fewer here).
    const calls = page.locator('#timeline li[data-status="200"]', { hasText: '/api/me (DPoP)' })
    const before = await calls.count()
    await page.focus('#call-me')
    await page.keyboard.press('Enter')
    await expect.poll(() => calls.count()).toBe(before + 1)
    // Every button is disabled while an action runs, and Enter in a form submits it only while
    // its submit button is enabled (HTML implicit submission): wait for the call to finish.
    await page.waitForSelector('#note-form button[type="submit"]:enabled')
    await page.focus('#note-text')
    await page.keyboard.type('typed, not clicked')
    await page.keyboard.press('Enter')
    await expect
      .poll(() => page.locator('#notes li').allTextContents())
      .toContain('typed, not clicked')
  })

  it('signs out: the key is deleted from IndexedDB and the tokens forgotten', async () => {
    await page.click('#sign-out')
    await page.waitForSelector('#signed-out:not([hidden])')
    expect(await status()).toContain('key was deleted')
    expect(await storedKey()).toEqual({ found: false })
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
    await page.reload()
    await ready()
    expect(await status()).toContain('Signed out')
    await page.screenshot({ path: join(OUTPUT, 'demo-signed-out.png') })
  })

  it('after a failed authorization redirect without a session, offers Sign in', async () => {
    await failSignIn('#sign-in')
    await ready()
    expect(await status()).toMatch(
      /^Sign-in failed: .* answered invalid_target: .*Sign in to try again\.$/,
    )
    await page.waitForSelector('#signed-out:not([hidden])')
    expect(await page.isEnabled('#sign-in')).toBe(true)
    expect(await page.isHidden('#signed-in')).toBe(true)
  })
})
