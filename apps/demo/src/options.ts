/**
 * Where the demo stack listens and keeps its data: defaults, environment variables and checks.
 * @packageDocumentation
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkUrl, URL_RULES } from '@keybound/authorization-server'

/** What `serve` may be told; everything has an embedded default. */
export interface ServeOptions {
  /** Host name in every URL and the address to listen on (default `localhost`). */
  host?: string | undefined
  /** Authorization server port (default 4000). */
  asPort?: number | undefined
  /** Demo API port (default 4001). */
  apiPort?: number | undefined
  /** Demo page port (default 4002). */
  pagePort?: number | undefined
  /** Folder of the SQLite database, the demo credentials and demo-service's key. */
  dataDir?: string | undefined
  /** RS nonces at the demo API (RFC 9449 §9), default on. */
  rsNonces?: boolean | undefined
  /**
   * More APIs the authorization server issues tokens for (RFC 8707 `resource`), e.g. your own
   * API at `http://localhost:4010`. A token request naming one gets a token whose `aud` is that
   * API; without `resource`, tokens are for the demo API. Default: none.
   */
  resources?: readonly string[] | undefined
  /** Where the start-up banner goes (default: standard output). */
  print?: ((text: string) => void) | undefined
}

/** The options with every default filled in. */
export interface ResolvedServeOptions {
  host: string
  asPort: number
  apiPort: number
  pagePort: number
  dataDir: string
  rsNonces: boolean
  /** Extra resources, in the order given, without repeats. */
  resources: string[]
  print: (text: string) => void
}

/** `.keybound-data/` at the repository root (gitignored); `dist/` sits two levels below it. */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../../../.keybound-data', import.meta.url))

/** Environment variables `resolveServeOptions` reads, by option. */
export const SERVE_ENVIRONMENT = {
  host: 'KEYBOUND_HOST',
  asPort: 'KEYBOUND_AS_PORT',
  apiPort: 'KEYBOUND_API_PORT',
  pagePort: 'KEYBOUND_PAGE_PORT',
  dataDir: 'KEYBOUND_DATA_DIR',
  rsNonces: 'KEYBOUND_RS_NONCES',
  resources: 'KEYBOUND_RESOURCES',
} as const

function readPort(value: number | string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const port = Number(value)
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${name}: must be a port number from 1 to 65535`)
  return port
}

function readSwitch(value: string | undefined, name: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback
  if (/^(1|on|true|yes)$/i.test(value)) return true
  if (/^(0|off|false|no)$/i.test(value)) return false
  throw new Error(`${name}: must be on or off`)
}

// Resources become token audiences: https, or plain http on a loopback host, as for issuers.
function readResources(value: readonly string[] | string | undefined, name: string): string[] {
  const given = typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : (value ?? [])
  const problems = given.flatMap((resource, i) => {
    const problem = checkUrl(resource, URL_RULES.redirect)
    return problem === undefined
      ? []
      : [`${name}[${i}]: ${problem} (got ${JSON.stringify(resource)})`]
  })
  if (problems.length > 0) throw new Error(problems.join('\n'))
  return [...new Set(given)]
}

/**
 * Fills in defaults: explicit options first, then the environment, then the embedded values.
 * Ports must differ because the page, the AS and the API are three origins.
 * @example
 * ```ts
 * const options = resolveServeOptions({ asPort: 5000 }, process.env)
 * options.apiPort // 4001 unless KEYBOUND_API_PORT says otherwise
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-1
 */
export function resolveServeOptions(
  options: ServeOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedServeOptions {
  const names = SERVE_ENVIRONMENT
  const resolved: ResolvedServeOptions = {
    host: options.host ?? (env[names.host] || 'localhost'),
    asPort: readPort(options.asPort ?? env[names.asPort], 'asPort', 4000),
    apiPort: readPort(options.apiPort ?? env[names.apiPort], 'apiPort', 4001),
    pagePort: readPort(options.pagePort ?? env[names.pagePort], 'pagePort', 4002),
    dataDir: resolve(options.dataDir ?? (env[names.dataDir] || DEFAULT_DATA_DIR)),
    rsNonces: options.rsNonces ?? readSwitch(env[names.rsNonces], 'rsNonces', true),
    resources: readResources(options.resources ?? env[names.resources], 'resources'),
    print: options.print ?? ((text) => process.stdout.write(text)),
  }
  const ports = new Set([resolved.asPort, resolved.apiPort, resolved.pagePort])
  if (ports.size !== 3) throw new Error('the AS, API and page ports must all differ')
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:]+\]$/.test(resolved.host))
    throw new Error('host: must be a host name or an IP address')
  return resolved
}
