/**
 * `serve`: the whole demo in one process on embedded defaults: the authorization server
 * (SQLite in the data folder, AS nonces on), the DPoP-protected demo API and the demo page,
 * each on its own origin.
 * @packageDocumentation
 */
import {
  createAuthorizationServer,
  hashPassword,
  type AuthorizationServer,
} from '@keybound/authorization-server'
import type { FastifyInstance } from 'fastify'
import { formatBanner } from './banner.js'
import { loadOrCreateCredentials, type DemoCredentials } from './credentials.js'
import { createDemoApi } from './demo-api.js'
import { demoLogger } from './lib/logger.js'
import { resolveServeOptions, type ServeOptions } from './options.js'
import { createPageServer, loadPageAssets, type PageConfig } from './page-server.js'

/** The URLs of a running demo stack. */
export interface DemoUrls {
  issuer: string
  api: string
  page: string
}

/** A running demo stack. */
export interface DemoStack {
  readonly urls: DemoUrls
  readonly credentials: DemoCredentials
  readonly dataDir: string
  /** Stops the three servers and closes the database; safe to call twice. */
  close(): Promise<void>
}

/** Client ids and scopes the demo seeds. */
export const DEMO_CLIENTS = {
  page: 'demo-spa',
  service: 'demo-service',
  scope: 'notes:read notes:write',
} as const

function urlOf(host: string, port: number): string {
  return `http://${host}:${port}`
}

/** The demo API first (tokens without `resource` are for it), then the extra resources. */
function resourcesOf(urls: DemoUrls, extra: readonly string[]): string[] {
  return [urls.api, ...extra.filter((resource) => resource !== urls.api)]
}

async function seedConfig(
  urls: DemoUrls,
  credentials: DemoCredentials,
  dataDir: string,
  resources: readonly string[],
): Promise<Record<string, unknown>> {
  const users = await Promise.all(
    credentials.users.map(async (user) => ({
      username: user.username,
      passwordHash: await hashPassword(user.password),
    })),
  )
  return {
    issuer: urls.issuer,
    accessTokens: { lifetime: 300, audience: urls.api },
    resources: resources.map((identifier) => ({ identifier })),
    dpop: { nonce: { required: true } },
    storage: { dataDir },
    cors: { allowedOrigins: [new URL(urls.page).origin] },
    users,
    clients: [
      {
        client_id: DEMO_CLIENTS.page,
        client_name: 'Keybound demo page',
        redirect_uris: [urls.page],
        scope: DEMO_CLIENTS.scope,
        first_party: true,
        dpop_bound_access_tokens: true,
      },
      {
        client_id: DEMO_CLIENTS.service,
        client_name: 'Keybound demo service',
        client_secret: credentials.serviceSecret,
        // client_secret_post: the printed `keybound curl` line can send it in the form body.
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
        scope: DEMO_CLIENTS.scope,
        dpop_bound_access_tokens: true,
      },
    ],
  }
}

// One after the other, and every one even when an earlier one fails; the first error is thrown.
async function closeAll(closers: Array<() => Promise<unknown>>): Promise<void> {
  let failure: unknown
  for (const close of closers) {
    try {
      await close()
    } catch (error) {
      failure ??= error
    }
  }
  if (failure !== undefined) throw failure
}

/**
 * Starts the demo stack and prints the banner (URLs, credentials, a `keybound curl` recipe).
 * A second start on the same data folder reuses the database (signing keys, clients, users)
 * and the credentials.
 * @example
 * ```ts
 * const stack = await serve({ dataDir: '.keybound-data' })
 * process.once('SIGINT', () => void stack.close())
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
export async function serve(options: ServeOptions = {}): Promise<DemoStack> {
  const resolved = resolveServeOptions(options)
  const listenHost = resolved.host.replace(/^\[|\]$/g, '')
  const urls: DemoUrls = {
    issuer: urlOf(resolved.host, resolved.asPort),
    api: urlOf(resolved.host, resolved.apiPort),
    page: `${urlOf(resolved.host, resolved.pagePort)}/`,
  }
  const credentials = await loadOrCreateCredentials(resolved.dataDir)
  const resources = resourcesOf(urls, resolved.resources)
  const closers: Array<() => Promise<unknown>> = []
  try {
    // `env: {}`: the demo always runs on its own SQLite file, even where DATABASE_URL or
    // REDIS_URL are set for the test suites.
    const as: AuthorizationServer = await createAuthorizationServer(
      await seedConfig(urls, credentials, resolved.dataDir, resources),
      { env: {}, logger: demoLogger('authorization-server') },
    )
    closers.push(() => as.close())
    await as.listen({ port: resolved.asPort, host: listenHost })

    const api: FastifyInstance = await createDemoApi({
      apiUrl: urls.api,
      issuer: urls.issuer,
      pageOrigin: new URL(urls.page).origin,
      nonces: resolved.rsNonces,
    })
    closers.push(() => api.close())
    await api.listen({ port: resolved.apiPort, host: listenHost })

    const pageConfig: PageConfig = {
      issuer: urls.issuer,
      apiUrl: urls.api,
      clientId: DEMO_CLIENTS.page,
      scope: DEMO_CLIENTS.scope,
      redirectUri: urls.page,
    }
    const page = createPageServer(await loadPageAssets(pageConfig), pageConfig)
    closers.push(() => page.close())
    await page.listen({ port: resolved.pagePort, host: listenHost })
  } catch (error) {
    await closeAll(closers.reverse()).catch(() => {})
    throw error
  }
  resolved.print(
    formatBanner({
      urls,
      credentials,
      dataDir: resolved.dataDir,
      rsNonces: resolved.rsNonces,
      resources,
    }),
  )
  let closing: Promise<void> | undefined
  return {
    urls,
    credentials,
    dataDir: resolved.dataDir,
    close() {
      // The page and the API go first, so nothing asks the AS for keys while it closes.
      closing ??= closeAll([...closers].reverse())
      return closing
    },
  }
}
