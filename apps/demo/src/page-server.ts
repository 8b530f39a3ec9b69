/**
 * The demo page: `src/page/` bundled with esbuild for the browser at start-up and served from
 * memory, so the page needs no external asset and no build step of its own.
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { build } from 'esbuild'
import Fastify, { type FastifyInstance } from 'fastify'
import { demoLogger } from './lib/logger.js'

/** What the page is told about the stack (read from a JSON block in the HTML). */
export interface PageConfig {
  issuer: string
  apiUrl: string
  clientId: string
  scope: string
  /** The redirect URI registered for the page client: the page's own URL. */
  redirectUri: string
}

/** The page's files, ready to serve. */
export interface PageAssets {
  html: string
  script: string
  styles: string
}

const PAGE_DIR = new URL('../src/page/', import.meta.url)

/**
 * Bundles the page script for browsers. The `browser` condition makes `@keybound/core` resolve
 * to its WebCrypto entry; the check afterwards makes sure `node:crypto` never slipped in. The
 * bundle carries an inline source map (through the packages' own maps, back to their
 * TypeScript), so the browser's developer tools show the sources and the tests' coverage of the
 * page, taken in Chromium, counts lines of `src/page/*.ts` (docs/adr/0051-coverage.md).
 * @example
 * ```ts
 * const script = await bundlePageScript()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
 */
export async function bundlePageScript(): Promise<string> {
  const result = await build({
    entryPoints: [new URL('main.ts', PAGE_DIR).pathname],
    // Never written: the name only places the map's `sources` relative to src/page/, where the
    // page serves the bundle as `app.js`.
    outfile: new URL('app.js', PAGE_DIR).pathname,
    bundle: true,
    write: false,
    sourcemap: 'inline',
    // The sources are read from disk when mapped; embedding them would triple what is served.
    sourcesContent: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['browser', 'import', 'default'],
    minify: false,
    legalComments: 'none',
    logLevel: 'silent',
  })
  const script = result.outputFiles[0]!.text
  if (script.includes('node:crypto')) throw new Error('the page bundle pulled in node:crypto')
  return script
}

function escapeJsonForHtml(value: unknown): string {
  // Inside <script type="application/json"> only "<" can end the block early.
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

/**
 * Reads the page's HTML and CSS, bundles its script, and puts the config into the HTML.
 * @example
 * ```ts
 * const assets = await loadPageAssets({ issuer, apiUrl, clientId: 'demo-spa', scope: 'notes:read', redirectUri })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10
 */
export async function loadPageAssets(config: PageConfig): Promise<PageAssets> {
  const [template, styles, script] = await Promise.all([
    readFile(new URL('index.html', PAGE_DIR), 'utf8'),
    readFile(new URL('styles.css', PAGE_DIR), 'utf8'),
    bundlePageScript(),
  ])
  const html = template.replace('{{CONFIG}}', escapeJsonForHtml(config))
  return { html, script, styles }
}

function contentSecurityPolicy(config: PageConfig): string {
  const origins = `${new URL(config.issuer).origin} ${new URL(config.apiUrl).origin}`
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' ${origins}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/**
 * Sends a request for another host name of this server (`127.0.0.1` for `localhost`, or the
 * reverse) to the page's own URL. The page's key (IndexedDB), its session (sessionStorage),
 * the redirect URI registered at the AS and the origin the AS and the API allow by CORS all
 * belong to that one origin; served under a second name the page would hold a second key
 * that can never finish a sign-in. The target is fixed by the configuration, never taken from
 * the request, so this is no open redirect.
 * @example
 * ```ts
 * redirectToCanonicalHost(app, 'http://localhost:4002/')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6454#section-4
 */
export function redirectToCanonicalHost(app: FastifyInstance, pageUrl: string): void {
  const canonical = new URL(pageUrl)
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.host?.toLowerCase() === canonical.host) return
    const path = request.url.startsWith('/') ? request.url : '/'
    return reply.redirect(`${canonical.origin}${path}`, 307)
  })
}

/**
 * Serves the page: `/` (also the redirect URI, so it receives `?code=…`), `/app.js` and
 * `/app.css`, under its configured host name only. `Referrer-Policy: no-referrer` keeps the
 * code in the callback URL from leaking to the AS or the API.
 * @example
 * ```ts
 * const app = createPageServer(assets, config)
 * await app.listen({ port: 4002, host: 'localhost' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.2.4
 */
export function createPageServer(assets: PageAssets, config: PageConfig): FastifyInstance {
  const app = Fastify({ logger: demoLogger('demo-page') })
  const csp = contentSecurityPolicy(config)
  redirectToCanonicalHost(app, config.redirectUri)
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply
      .header('Content-Security-Policy', csp)
      .header('Referrer-Policy', 'no-referrer')
      .header('X-Content-Type-Options', 'nosniff')
      .header('Cache-Control', 'no-store')
    done(null, payload)
  })
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(assets.html))
  app.get('/app.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(assets.script),
  )
  app.get('/app.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(assets.styles),
  )
  return app
}
