/**
 * Real headless Chromium (Debian's `chromium`) for the browser tests. The tests fail, never skip,
 * when it is missing: a browser suite that silently did nothing would prove nothing.
 */
import { existsSync } from 'node:fs'
import { chromium, type BrowserContext } from 'playwright-core'

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Flags for a quiet, sandbox-free headless run in a container: no GPU, no QUIC (the servers
 * under test speak HTTP/1.1 on loopback), and no background traffic to Google.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Throws with the install command when Chromium is not installed. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
}

/** What a test may set on the browser context (viewport, locale, time zone...). */
export type ChromiumOptions = Omit<
  NonNullable<Parameters<typeof chromium.launchPersistentContext>[1]>,
  'executablePath' | 'headless' | 'args'
>

/**
 * Launches Chromium through playwright-core with a fresh persistent profile (so IndexedDB and
 * cookies survive a reload, as in a user's browser). The profile is a temporary folder that
 * Playwright deletes when the context closes.
 */
export async function launchChromium(options: ChromiumOptions = {}): Promise<BrowserContext> {
  requireChromium()
  return chromium.launchPersistentContext('', {
    ...options,
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
  })
}
