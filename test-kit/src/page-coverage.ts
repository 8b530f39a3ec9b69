/**
 * Coverage of the scripts a page runs in Chromium, for `npm test`'s coverage report
 * (docs/adr/0051-coverage.md). A page script is bundled and served from memory, so neither
 * vitest nor a Node child ever runs it; Chromium's V8 counts it instead. The counts are written
 * in V8's own format, with the script's text (whose inline source map leads back to the
 * TypeScript), into the folder where Node children write theirs; scripts/coverage/report.mjs
 * merges them. Without `--coverage` that folder is not set and nothing is recorded.
 */
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Page } from 'playwright-core'

/** Takes and writes what the page ran. */
export interface PageCoverage {
  /** Takes the counts so far (call it after each test: see {@link startPageCoverage}). */
  collect(): Promise<void>
  /** Takes the last counts, stops recording and writes them all. */
  stop(): Promise<void>
}

/** One script's counts in V8's format, with its text (`source`) and the file it stands for. */
interface ScriptCoverage {
  scriptId: string
  url: string
  source: string
  functions: unknown[]
}

/**
 * Starts recording the JavaScript coverage of `page` across its navigations and reloads.
 * `bundles` names, for each script URL (`http://localhost:4002/app.js`), the file the bundle was
 * built as: its source map's relative `sources` resolve from that file's folder. Other scripts
 * (the authorization server's pages, for one) are left out.
 *
 * A navigation may move the page to a new renderer process, which takes the old document's
 * counts with it, and DevTools holds every command to the page while a navigation is pending,
 * so the counts cannot be taken just before one leaves. Call `collect` after each test instead:
 * what a document ran is lost only when the same test navigates it away to another process.
 */
export async function startPageCoverage(
  page: Page,
  bundles: Readonly<Record<string, string>>,
): Promise<PageCoverage> {
  const dir = process.env.NODE_V8_COVERAGE
  if (dir === undefined) return { collect: async () => {}, stop: async () => {} }
  const scripts: ScriptCoverage[] = []
  const take = async (): Promise<void> => {
    for (const entry of await page.coverage.stopJSCoverage()) {
      const builtAs = bundles[entry.url]
      if (builtAs === undefined || entry.source === undefined) continue
      const url = pathToFileURL(builtAs).href
      scripts.push({
        scriptId: entry.scriptId,
        url,
        source: entry.source,
        functions: entry.functions,
      })
    }
  }
  const start = () => page.coverage.startJSCoverage({ resetOnNavigation: false })
  await start()
  return {
    collect: async () => {
      await take()
      await start()
    },
    stop: async () => {
      await take()
      // Named apart from Node's own coverage-<pid>-<time>-<n>.json files in the same folder.
      const file = join(dir, `coverage-chromium-${randomUUID()}.json`)
      await writeFile(file, JSON.stringify({ result: scripts }))
    },
  }
}
