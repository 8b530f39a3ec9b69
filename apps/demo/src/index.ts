/**
 * `@keybound/demo`: what `npm start` (`keybound serve`) runs: the authorization server, a
 * DPoP-protected demo API and a browser page that shows DPoP at work, in one process.
 *
 * @example
 * ```ts
 * import { serve } from '@keybound/demo'
 * const stack = await serve({ asPort: 4000, apiPort: 4001, pagePort: 4002 })
 * process.once('SIGINT', () => void stack.close())
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 * @module @keybound/demo
 */
export { serve, DEMO_CLIENTS, type DemoStack, type DemoUrls } from './serve.js'
export {
  resolveServeOptions,
  DEFAULT_DATA_DIR,
  SERVE_ENVIRONMENT,
  type ResolvedServeOptions,
  type ServeOptions,
} from './options.js'
export { formatBanner, serviceRecipe, type BannerInput } from './banner.js'
export { loadOrCreateCredentials, type DemoCredentials, type DemoUser } from './credentials.js'
export { createDemoApi, type DemoApiOptions } from './demo-api.js'
export { bundlePageScript, type PageConfig } from './page-server.js'
