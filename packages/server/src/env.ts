/**
 * A resource server configured from environment variables, as express-oauth2-jwt-bearer reads
 * `ISSUER_BASE_URL`, `AUDIENCE`, `JWKS_URI`, `ISSUER` and `TOKEN_SIGNING_ALG` (and refuses its
 * `SECRET`), plus Keybound's own `KEYBOUND_*` variables. Every variable is checked
 * before anything is fetched, and one error names every bad one (never its value: some are
 * secrets). With `ISSUER_BASE_URL` and no `JWKS_URI`, the issuer's metadata is discovered
 * (OpenID Connect Discovery 1.0 §4, then RFC 8414 §3) and its `issuer` must match.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 * @packageDocumentation
 */
import { InvalidArgument, isLoopbackHost, SUPPORTED_ALGORITHMS } from '@keybound/core'
import { jwtAccessTokens } from './access-tokens/jwt.js'
import { parsePublicBaseUrl } from './expected-url.js'
import { createResourceServer } from './resource-server.js'
import type { ResourceServer, ResourceServerOptions } from './types.js'

/**
 * The environment: variable names to values (`process.env` has this shape).
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export type Environment = Readonly<Record<string, string | undefined>>

/**
 * Options of {@link resourceServerOptionsFromEnv}.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export interface EnvironmentOptions {
  /** The `fetch` used for discovery (default `globalThis.fetch`). */
  fetch?: typeof fetch
  /** How long discovery may take, in milliseconds (default 5,000). */
  discoveryTimeoutMs?: number
}

/** The variables as read and checked, before discovery. */
interface EnvironmentSettings {
  publicBaseUrl: string
  audience: string[]
  issuerBaseUrl?: URL
  /**
   * The issuer `ISSUER_BASE_URL` names: as written (no slash added), or the one a metadata URL
   * was built from. Used when no `ISSUER` is set.
   */
  issuerBase?: string
  issuer?: string
  jwksUri?: string
  tokenAlgorithms?: string[]
  clockTolerance?: number
  nonceSecret?: string
  allowBearer?: boolean
  trustProxy?: boolean
  proofAlgorithms?: string[]
  realm?: string
}

const MIN_NONCE_SECRET_BYTES = 32
// RFC 9110 quoted-string content without quotes, backslashes or controls.
const REALM = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/

/** Reads one variable: unset and blank are both "not set". */
function readVariable(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function splitList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** An `https` URL, or `http` on a loopback host (RFC 9449 §2); `undefined` otherwise. */
function parseSecureUrl(value: string): URL | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  const secure =
    url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
  return secure && url.username === '' && url.password === '' && url.hash === '' ? url : undefined
}

function parseBoolean(value: string): boolean | undefined {
  const lower = value.toLowerCase()
  return lower === 'true' ? true : lower === 'false' ? false : undefined
}

/** Reads and checks every variable, collecting one line per bad variable. */
function readSettings(env: Environment, problems: string[]): EnvironmentSettings {
  const settings: EnvironmentSettings = { publicBaseUrl: '', audience: [] }
  readPublicBaseUrl(env, settings, problems)
  readIssuer(env, settings, problems)
  readTokenChecks(env, settings, problems)
  readKeyboundOptions(env, settings, problems)
  return settings
}

function readPublicBaseUrl(
  env: Environment,
  settings: EnvironmentSettings,
  problems: string[],
): void {
  const value = readVariable(env, 'KEYBOUND_PUBLIC_BASE_URL')
  if (value === undefined) {
    problems.push('KEYBOUND_PUBLIC_BASE_URL is required: the URL clients call this API at')
    return
  }
  try {
    parsePublicBaseUrl(value)
    settings.publicBaseUrl = value
  } catch (error) {
    const reason = (error as Error).message.replace(/^publicBaseUrl /, '')
    problems.push(`KEYBOUND_PUBLIC_BASE_URL ${reason}`)
  }
}

function readIssuer(env: Environment, settings: EnvironmentSettings, problems: string[]): void {
  const base = readVariable(env, 'ISSUER_BASE_URL')
  const issuer = readVariable(env, 'ISSUER')
  const jwksUri = readVariable(env, 'JWKS_URI')
  if (base !== undefined) {
    const url = parseSecureUrl(base)
    if (url === undefined || url.search !== '')
      problems.push('ISSUER_BASE_URL must be an https URL (http only on loopback), without query')
    else {
      settings.issuerBaseUrl = url
      const named = url.pathname.includes('/.well-known/') ? issuerOfMetadataUrl(url) : base
      if (named !== undefined) settings.issuerBase = named
      else if (issuer === undefined)
        problems.push('ISSUER_BASE_URL is a well-known URL of no known kind; set ISSUER too')
    }
  }
  if (jwksUri !== undefined) {
    if (parseSecureUrl(jwksUri) === undefined)
      problems.push('JWKS_URI must be an https URL (http only on loopback)')
    else settings.jwksUri = jwksUri
  }
  if (issuer !== undefined) settings.issuer = issuer
  if (base === undefined && (issuer === undefined || jwksUri === undefined)) {
    problems.push('ISSUER_BASE_URL is required, or both ISSUER and JWKS_URI')
  }
}

function readAlgorithms(env: Environment, name: string, problems: string[]): string[] | undefined {
  const value = readVariable(env, name)
  if (value === undefined) return undefined
  const algorithms = splitList(value)
  const unknown = algorithms.filter(
    (alg) => !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg),
  )
  if (algorithms.length === 0 || unknown.length > 0) {
    problems.push(
      `${name} must list asymmetric JWS algorithms among ${SUPPORTED_ALGORITHMS.join(', ')}` +
        (unknown.length > 0 ? ` (not ${unknown.join(', ')})` : ''),
    )
    return undefined
  }
  return algorithms
}

function readTokenChecks(
  env: Environment,
  settings: EnvironmentSettings,
  problems: string[],
): void {
  const audience = readVariable(env, 'AUDIENCE')
  if (audience === undefined) problems.push('AUDIENCE is required: the identifier of this API')
  else settings.audience = splitList(audience)
  const tokenAlgorithms = readAlgorithms(env, 'TOKEN_SIGNING_ALG', problems)
  if (tokenAlgorithms !== undefined) settings.tokenAlgorithms = tokenAlgorithms
  const tolerance = readVariable(env, 'KEYBOUND_TOKEN_CLOCK_TOLERANCE')
  if (tolerance !== undefined) {
    const seconds = Number(tolerance)
    if (!/^\d+$/.test(tolerance) || !Number.isSafeInteger(seconds))
      problems.push('KEYBOUND_TOKEN_CLOCK_TOLERANCE must be a whole number of seconds')
    else settings.clockTolerance = seconds
  }
  if (readVariable(env, 'SECRET') !== undefined) {
    problems.push('SECRET is not supported: symmetric (HS*) access tokens are always refused')
  }
}

function readFlag(env: Environment, name: string, problems: string[]): boolean | undefined {
  const value = readVariable(env, name)
  if (value === undefined) return undefined
  const flag = parseBoolean(value)
  if (flag === undefined) problems.push(`${name} must be true or false`)
  return flag
}

function readKeyboundOptions(
  env: Environment,
  settings: EnvironmentSettings,
  problems: string[],
): void {
  const secret = readVariable(env, 'KEYBOUND_DPOP_NONCE_SECRET')
  if (secret !== undefined) {
    // The length only: a secret never appears in a message.
    if (new TextEncoder().encode(secret).byteLength < MIN_NONCE_SECRET_BYTES)
      problems.push(`KEYBOUND_DPOP_NONCE_SECRET must be at least ${MIN_NONCE_SECRET_BYTES} bytes`)
    else settings.nonceSecret = secret
  }
  const allowBearer = readFlag(env, 'KEYBOUND_ALLOW_BEARER', problems)
  if (allowBearer !== undefined) settings.allowBearer = allowBearer
  const trustProxy = readFlag(env, 'KEYBOUND_TRUST_PROXY', problems)
  if (trustProxy !== undefined) settings.trustProxy = trustProxy
  const proofAlgorithms = readAlgorithms(env, 'KEYBOUND_DPOP_ALGORITHMS', problems)
  if (proofAlgorithms !== undefined) settings.proofAlgorithms = proofAlgorithms
  const realm = readVariable(env, 'KEYBOUND_REALM')
  if (realm !== undefined) {
    if (!REALM.test(realm))
      problems.push('KEYBOUND_REALM must be printable ASCII without quotes or backslashes')
    else settings.realm = realm
  }
}

const OIDC_WELL_KNOWN = '/.well-known/openid-configuration'
const OAUTH_WELL_KNOWN = '/.well-known/oauth-authorization-server'

/** The discovery documents to try, in order: OpenID Connect first, as the peer does, then RFC 8414. */
function discoveryUrls(base: URL): string[] {
  const path = base.pathname.replace(/\/+$/, '')
  return [`${base.origin}${path}${OIDC_WELL_KNOWN}`, `${base.origin}${OAUTH_WELL_KNOWN}${path}`]
}

/**
 * The issuer a metadata URL was built from, when `ISSUER_BASE_URL` is the metadata URL itself
 * (the peer accepts that form): OpenID Connect Discovery §4 appends the well-known path, RFC
 * 8414 §3.1 inserts it. `undefined` for any other well-known URL.
 */
function issuerOfMetadataUrl(url: URL): string | undefined {
  if (url.pathname.endsWith(OIDC_WELL_KNOWN))
    return `${url.origin}${url.pathname.slice(0, -OIDC_WELL_KNOWN.length)}`
  if (url.pathname.startsWith(OAUTH_WELL_KNOWN))
    return `${url.origin}${url.pathname.slice(OAUTH_WELL_KNOWN.length)}`
  return undefined
}

// Issuers differ on a trailing slash (Auth0 keeps one); the metadata's own value wins.
function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
}

async function fetchMetadata(
  url: string,
  options: EnvironmentOptions,
): Promise<Record<string, unknown> | undefined> {
  const fetcher = options.fetch ?? globalThis.fetch
  const response = await fetcher(url, {
    headers: { accept: 'application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(options.discoveryTimeoutMs ?? 5_000),
  })
  if (!response.ok) {
    await response.body?.cancel()
    return undefined
  }
  const body: unknown = await response.json()
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : undefined
}

/**
 * Finds `issuer` and `jwks_uri` from the issuer's metadata. The metadata's `issuer` must be the
 * configured one (RFC 8414 §3.3, OpenID Connect Discovery §4.3), and `jwks_uri` an https URL.
 */
async function discover(
  base: URL,
  expectedIssuer: string,
  options: EnvironmentOptions,
): Promise<{ issuer: string; jwksUri: string }> {
  const failures: string[] = []
  const urls = base.pathname.includes('/.well-known/') ? [base.href] : discoveryUrls(base)
  for (const url of urls) {
    let metadata: Record<string, unknown> | undefined
    try {
      metadata = await fetchMetadata(url, options)
    } catch (error) {
      failures.push(`${url}: ${(error as Error).name}`)
      continue
    }
    if (metadata === undefined) {
      failures.push(`${url}: no metadata`)
      continue
    }
    const { issuer, jwks_uri: jwksUri } = metadata
    // No argument is at fault here but the issuer's published metadata; `reason` says how.
    if (typeof issuer !== 'string' || !sameIssuer(issuer, expectedIssuer)) {
      throw new InvalidArgument(
        `ISSUER_BASE_URL: the metadata at ${url} names another issuer than ${expectedIssuer}`,
        { reason: 'issuer mismatch' },
      )
    }
    if (typeof jwksUri !== 'string' || parseSecureUrl(jwksUri) === undefined) {
      throw new InvalidArgument(`ISSUER_BASE_URL: the metadata at ${url} has no https jwks_uri`, {
        reason: 'no jwks_uri',
      })
    }
    return { issuer, jwksUri }
  }
  throw new InvalidArgument(
    `ISSUER_BASE_URL: no issuer metadata found (${failures.join('; ')}); set JWKS_URI and ISSUER`,
    { reason: 'discovery failed' },
  )
}

/**
 * Reads a resource server's options from environment variables, as express-oauth2-jwt-bearer
 * does, so an API moves over without new variables:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `ISSUER_BASE_URL` | the issuer; its metadata gives `jwks_uri` (unless `JWKS_URI` is set) |
 * | `ISSUER`, `JWKS_URI` | the exact `iss` and the key set, instead of discovery |
 * | `AUDIENCE` | this API's identifier(s), comma- or space-separated (required) |
 * | `TOKEN_SIGNING_ALG` | the access tokens' algorithm(s) (default: every asymmetric one) |
 * | `KEYBOUND_TOKEN_CLOCK_TOLERANCE` | seconds of leeway for the token's `exp`/`nbf`/`iat` |
 * | `KEYBOUND_PUBLIC_BASE_URL` | the URL clients call; `htu` is checked against it (required) |
 * | `KEYBOUND_DPOP_NONCE_SECRET` | turns resource-server nonces on (RFC 9449 §9), 32+ bytes |
 * | `KEYBOUND_ALLOW_BEARER`, `KEYBOUND_TRUST_PROXY` | `true` or `false` |
 * | `KEYBOUND_DPOP_ALGORITHMS` | proof algorithms accepted |
 * | `KEYBOUND_REALM` | the challenges' `realm` |
 *
 * `SECRET` (HS256 tokens) is refused. Throws one `InvalidArgument` that names every bad
 * variable, without its value.
 *
 * @example
 * ```ts
 * const options = await resourceServerOptionsFromEnv(process.env)
 * const resourceServer = createResourceServer({ ...options, replayStore })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export async function resourceServerOptionsFromEnv(
  env: Environment = globalThis.process?.env ?? {},
  options: EnvironmentOptions = {},
): Promise<ResourceServerOptions> {
  const problems: string[] = []
  const settings = readSettings(env, problems)
  // One error for the whole environment: each problem names its variable.
  if (problems.length > 0) {
    throw new InvalidArgument(`invalid environment: ${problems.join('; ')}`, {
      details: { problems },
    })
  }
  let issuer = settings.issuer ?? settings.issuerBase ?? ''
  let jwksUri = settings.jwksUri
  if (jwksUri === undefined) {
    const found = await discover(settings.issuerBaseUrl!, issuer, options)
    issuer = settings.issuer ?? found.issuer
    jwksUri = found.jwksUri
  }
  const resourceServerOptions: ResourceServerOptions = {
    publicBaseUrl: settings.publicBaseUrl,
    accessTokens: jwtAccessTokens({
      issuer,
      audience: settings.audience,
      jwksUri,
      ...(settings.tokenAlgorithms === undefined ? {} : { algorithms: settings.tokenAlgorithms }),
      ...(settings.clockTolerance === undefined ? {} : { clockTolerance: settings.clockTolerance }),
    }),
  }
  if (settings.nonceSecret !== undefined)
    resourceServerOptions.nonces = { secret: settings.nonceSecret }
  if (settings.allowBearer !== undefined) resourceServerOptions.allowBearer = settings.allowBearer
  if (settings.trustProxy !== undefined) resourceServerOptions.trustProxy = settings.trustProxy
  if (settings.proofAlgorithms !== undefined)
    resourceServerOptions.algorithms = settings.proofAlgorithms
  if (settings.realm !== undefined) resourceServerOptions.realm = settings.realm
  return resourceServerOptions
}

/**
 * {@link resourceServerOptionsFromEnv}, then `createResourceServer` with `overrides` on top
 * (a Redis `replayStore`, `onOutcome`, …).
 *
 * @example
 * ```ts
 * import { resourceServerFromEnv } from '@keybound/server'
 *
 * // ISSUER_BASE_URL=https://as.example.com AUDIENCE=https://api.example.com
 * // KEYBOUND_PUBLIC_BASE_URL=https://api.example.com
 * const resourceServer = await resourceServerFromEnv(process.env)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export async function resourceServerFromEnv(
  env: Environment = globalThis.process?.env ?? {},
  overrides: Partial<ResourceServerOptions> = {},
  options: EnvironmentOptions = {},
): Promise<ResourceServer> {
  const fromEnv = await resourceServerOptionsFromEnv(env, options)
  return createResourceServer({ ...fromEnv, ...overrides })
}
