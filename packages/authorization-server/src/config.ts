/**
 * Configuration: one JSON or YAML document (issuer, clients, users, lifetimes, algorithms, nonce
 * policy, storage), `${VAR}` references and a few environment variables for secrets and URLs,
 * validated up front with errors that name the bad field, e.g.
 * `clients[1].redirect_uris[0]: must be an absolute https URL or loopback http`.
 *
 * Client entries use the RFC 7591 metadata names (`redirect_uris`, `token_endpoint_auth_method`,
 * `dpop_bound_access_tokens`, …); server settings are camelCase.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import {
  isLoopbackHost,
  KeyboundError,
  SUPPORTED_ALGORITHMS,
  type DPoPAlgorithm,
} from '@keybound/core'
import { parse as parseYaml } from 'yaml'
import type { AuthorizationServerErrorCode } from './errors.js'
import {
  DEFAULT_SCRYPT_LOG_N,
  MAX_SCRYPT_LOG_N,
  MIN_SCRYPT_LOG_N,
  scryptCost,
  storedHashCost,
  storedHashProblem,
} from './passwords.js'
import {
  FAPI2_ALGORITHMS,
  fapi2ServerIssues,
  holdClientToFapi2,
  PROFILES,
  type ProfileName,
} from './profiles/fapi2.js'
import {
  checkTokenExchange,
  TOKEN_EXCHANGE_GRANT,
  type TokenExchangeConfig,
} from './token-exchange-config.js'

/** Token endpoint client authentication methods (RFC 7591 §2, RFC 7523 §2.2). */
export type ClientAuthMethod =
  'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
/** Grant types this server issues tokens for. */
export type GrantType =
  'authorization_code' | 'refresh_token' | 'client_credentials' | typeof TOKEN_EXCHANGE_GRANT
/** Access-token formats: RFC 9068 JWT or an opaque handle checked by introspection. */
export type AccessTokenFormat = 'jwt' | 'opaque'
/** Algorithms this server signs access tokens with. */
export type SigningAlgorithm = 'ES256' | 'ES384' | 'PS256' | 'RS256' | 'EdDSA'

/** A registered client (config or dynamic registration), RFC 7591 names. */
export interface ClientConfig {
  client_id: string
  /** Shared secret for `client_secret_basic` / `client_secret_post`. */
  client_secret?: string
  token_endpoint_auth_method: ClientAuthMethod
  redirect_uris: string[]
  grant_types: GrantType[]
  /** Scopes the client may ask for, space-separated. */
  scope: string
  /** RFC 9449 §5.2: token requests without a DPoP header are rejected. */
  dpop_bound_access_tokens: boolean
  /** Overrides `accessTokens.format` for this client. */
  access_token_format?: AccessTokenFormat
  /** Policy of RFC 9449 §5: issue `Bearer` access tokens even when a proof is sent. */
  bearer_access_tokens: boolean
  /** First-party clients skip the consent screen. */
  first_party: boolean
  /** Public keys for `private_key_jwt` and signed request objects (RFC 7517 JWK Set). */
  jwks?: { keys: Record<string, unknown>[] }
  /** RFC 9126 §6: this client must use PAR. */
  require_pushed_authorization_requests: boolean
  client_name?: string
  /** `aud` of this client's access tokens; defaults to `accessTokens.audience`. */
  audience?: string
  /**
   * A resource server that may introspect other clients' access tokens (RFC 7662 §4): `true`
   * for every token, or the audiences (`aud` values) whose tokens it may see. Left out: only
   * the client's own tokens, and those whose `aud` is its `client_id`.
   */
  resource_server?: true | string[]
  /**
   * Run this client's requests under a security profile (`fapi2`: FAPI 2.0 Security Profile
   * with DPoP) even when the server as a whole does not.
   */
  profile?: ProfileName
}

/** An API this server issues tokens for, named by RFC 8707 `resource`. */
export interface ResourceConfig {
  /** The resource indicator: an absolute URI without fragment; it becomes the token's `aud`. */
  identifier: string
  /** Token format for this resource; overrides the client's and `accessTokens.format`. */
  accessTokenFormat?: AccessTokenFormat
}

/** A user who can sign in at `/authorize`. */
export interface UserConfig {
  username: string
  /** `$scrypt$ln=17,r=8,p=1$salt$hash` as made by `hashPassword` or `keybound-as hash-password` (the older `scrypt$N$r$p$salt$hash` with N >= 2^14 is accepted). */
  passwordHash: string
  /** The `sub` of this user's tokens; defaults to the username. */
  subject: string
}

/** The validated configuration. Times are in seconds. */
export interface AuthorizationServerConfig {
  /** Issuer URL; when left out, `http://<bound loopback address>:<port>` (development only). */
  issuer?: string
  /**
   * A security profile every client runs under (`fapi2`: FAPI 2.0 Security Profile with DPoP,
   * see docs/fapi2.md); left out, only clients with their own `profile` run under one.
   */
  profile?: ProfileName
  /**
   * The authorization response: `iss` sends the issuer with every code and redirected error
   * (RFC 9207 §2; default `true`, required under the FAPI 2.0 profile).
   */
  authorizationResponse: { iss: boolean }
  clients: ClientConfig[]
  users: UserConfig[]
  accessTokens: {
    lifetime: number
    format: AccessTokenFormat
    /** `aud` of access tokens unless the client sets one; defaults to the issuer. */
    audience?: string
  }
  /** APIs clients may name with `resource` (RFC 8707); empty: `resource` is refused. */
  resources: ResourceConfig[]
  refreshTokens: { lifetime: number; absoluteLifetime: number }
  authorizationCodes: { lifetime: number }
  par: { lifetime: number; required: boolean }
  signing: {
    alg: SigningAlgorithm
    /** Keep the token-signing keys on a PKCS#11 token instead of in the database. */
    pkcs11?: SigningPkcs11Config
  }
  dpop: {
    /** Accepted proof algorithms (`dpop_signing_alg_values_supported`). */
    algorithms: DPoPAlgorithm[]
    /** Every token request must carry a proof (the default); `false` lets non-DPoP clients get Bearer tokens. */
    required: boolean
    maxAge: number
    clockTolerance: number
    nonce: {
      required: boolean
      /** Shared HMAC secret (>= 32 bytes); generated and stored in the database when left out. */
      secret?: string
      stepSeconds: number
    }
  }
  /** Dynamic client registration (RFC 7591); off when left out. */
  registration?: { initialAccessToken: string } & RegistrationPolicy
  storage: {
    /** PostgreSQL connection string; SQLite is used when left out. */
    databaseUrl?: string
    /** Folder of the SQLite file (`keybound-as.sqlite`). */
    dataDir: string
    /** PostgreSQL schema to keep the tables in (default `public`). */
    schema?: string
    /** The periodic deletion of expired rows (see `storage/sweep.ts`). */
    sweep: {
      /** Seconds between two sweeps (default 60); 0 turns the periodic sweep off. */
      intervalSeconds: number
      /** Rows deleted by one statement (default 500). */
      batchSize: number
      /** Seconds a row is kept after it expired (default 60), for clock skew between instances. */
      graceSeconds: number
    }
  }
  replay: {
    /** Redis URL for the proof replay store shared by all instances; in memory when left out. */
    redisUrl?: string
    keyPrefix: string
  }
  lint: {
    /** AS16 (§11.2): warn when access tokens outlive this many seconds without nonces. */
    maxAccessTokenLifetimeWithoutNonce: number
  }
  /**
   * Browser origins (`scheme://host[:port]`) allowed to call the token, PAR and revocation
   * endpoints and to read the metadata and JWKS cross-origin (browser-based clients). Empty: no
   * CORS headers at all.
   */
  cors: { allowedOrigins: string[] }
  /** What one request may cost the server: sizes, nesting and time (see SECURITY.md). */
  limits: {
    /** Largest request body, in bytes (default 65,536); larger ones get 413. */
    bodyBytes: number
    /** Largest request line plus headers, in bytes (default 16,384); larger ones get 431. */
    headerBytes: number
    /** Longest a client may take to send a whole request, in ms (default 30,000); then 408. */
    requestTimeoutMs: number
    /** Deepest nesting of a JSON body (default 16); deeper ones get 400 `invalid_request`. */
    jsonDepth: number
  }
  /**
   * Fixed-window rate limits answered with 429 and `Retry-After`: `enabled`, then `max` and
   * `windowSeconds` for each of `token`, `par`, `login` and `loginIp`.
   */
  rateLimits: RateLimitConfig
  /** Where `/metrics` is served (see {@link MetricsConfig}); nowhere by default. */
  metrics: MetricsConfig
  /**
   * Addresses or CIDR ranges of the reverse proxies in front of the server (default: none).
   * Only from these is `X-Forwarded-For` believed, and the per-address rate limits then key on
   * the client address it names; from anyone else the header is ignored.
   */
  trustProxy: string[]
  /** How new password hashes are made (see {@link PasswordConfig}). */
  passwords: PasswordConfig
  /** Token exchange (RFC 8693): targets, delegation rules, `act` depth, trusted issuers. */
  tokenExchange: TokenExchangeConfig
}

/**
 * The cost of new password hashes. A user whose stored hash is weaker gets a new hash at the
 * next sign-in; hashes below N = 2^14 are refused at load.
 */
export interface PasswordConfig {
  /** log2 of scrypt's N, from 14 to 20 (default 17: OWASP's N = 2^17, r = 8, p = 1). */
  scryptLogN: number
}

/**
 * Where Prometheus metrics are served. They tell an outsider the traffic, the error mix and
 * the process internals, so they are off the public listener unless the operator says so.
 */
export interface MetricsConfig {
  /** Port of a separate metrics listener serving only `GET /metrics` (0: any free port); none when left out. */
  port?: number
  /** Address of the metrics listener (default `127.0.0.1`). */
  host: string
  /** Also serve `/metrics` on the main (public) listener (default `false`). */
  onMainListener: boolean
}

/**
 * What a dynamically registered client may ask for (RFC 7591 §2: the server decides which
 * metadata it accepts). Everything is closed by default: no scopes, no `client_credentials`.
 */
export interface RegistrationPolicy {
  /** Scope tokens a registered client may register (default: none). */
  allowedScopes: string[]
  /** Registered clients may use the `client_credentials` grant (default `false`). */
  allowClientCredentials: boolean
  /**
   * When not empty, registered redirect URIs must be https on one of these hosts, and only then
   * are authorization errors redirected to them before the user signs in (default: empty).
   */
  trustedRedirectHosts: string[]
}

/** One fixed-window limit: at most `max` counted events per key in each `windowSeconds`. */
export interface RateLimit {
  max: number
  windowSeconds: number
}

/**
 * Rate limits of the endpoints an attacker can use to guess secrets or to load the database.
 * Each key has its own counter; `enabled: false` turns them all off (e.g. behind a gateway
 * that limits already).
 */
export interface RateLimitConfig {
  enabled: boolean
  /** `/token` requests per client, counted once the client authenticated (a failure is refunded). */
  token: RateLimit
  /** `/par` requests per client, keyed like `token`. */
  par: RateLimit
  /** `GET /authorize` requests per client IP address (each one can store a sign-in row). */
  authorize: RateLimit
  /** `/introspect` requests per client, keyed like `token`. */
  introspect: RateLimit
  /** Failed sign-ins per username (RFC 6749 §10.10: password guessing). */
  login: RateLimit
  /** Failed sign-ins per client IP address, whatever the username. */
  loginIp: RateLimit
  /**
   * Failed client authentications per client id (RFC 6749 §10.10); an address that
   * authenticated as the client in the last 24 hours is exempt, so guessers cannot starve it.
   */
  clientAuthFailures: RateLimit
  /** Failed client authentications per client IP address, whatever the client. */
  clientAuthFailuresIp: RateLimit
}

/**
 * A configuration that failed validation; `issues` lists every bad field as `path: problem`.
 * @example
 * ```ts
 * try { resolveConfig(input) } catch (e) { if (e instanceof ConfigError) console.error(e.issues.join('\n')) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export class ConfigError extends KeyboundError {
  /** The stable code of this error class. */
  static code: AuthorizationServerErrorCode = 'ERR_DPOP_AS_CONFIG_INVALID'
  /** The stable code of this error. */
  declare readonly code: AuthorizationServerErrorCode
  /** Every bad field, as `path: problem`. */
  readonly issues: readonly string[]
  constructor(issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`, { reason: 'invalid fields' })
    this.issues = issues
  }
}

/**
 * Environment variables that override the file (secrets and URLs stay out of it), by the
 * setting they fill.
 * @example
 * ```ts
 * ENVIRONMENT_VARIABLES.DATABASE_URL // 'storage.databaseUrl'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export const ENVIRONMENT_VARIABLES = {
  KEYBOUND_ISSUER: 'issuer',
  DATABASE_URL: 'storage.databaseUrl',
  KEYBOUND_DB_SCHEMA: 'storage.schema',
  KEYBOUND_DATA_DIR: 'storage.dataDir',
  REDIS_URL: 'replay.redisUrl',
  KEYBOUND_NONCE_SECRET: 'dpop.nonce.secret',
  KEYBOUND_INITIAL_ACCESS_TOKEN: 'registration.initialAccessToken',
} as const

const AUTH_METHODS: readonly ClientAuthMethod[] = [
  'none',
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
]
const GRANT_TYPES: readonly GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  // Spelled out: the constant lives in token-exchange-config.ts, which imports this module.
  'urn:ietf:params:oauth:grant-type:token-exchange',
]
const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = [
  'ES256',
  'ES384',
  'PS256',
  'RS256',
  'EdDSA',
]
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/
const CLIENT_ID = /^[\x21-\x7E]{1,255}$/

type Input = Record<string, unknown>

/** Where the token-signing keys live when they are on a PKCS#11 token (an HSM). */
export interface SigningPkcs11Config {
  /**
   * RFC 7512 URI naming the token (`token=`, `serial=`, ...) and the label prefix of the keys
   * (`object=`): each key is `<object>-<kid>`; `module-path` names the PKCS#11 module.
   */
  uri: string
  /** Environment variable holding the token's user PIN (the PIN is never in the file). */
  pinEnv: string
  /** Sessions opened for concurrent signing (default 4). */
  poolSize: number
}

const PKCS11_KEYS = new Set(['uri', 'pinEnv', 'poolSize'])
const PKCS11_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'PS256', 'RS256', 'EdDSA']

// Checks what the server can check without loading the module: the URI's shape, where the PIN
// comes from, and an algorithm the PKCS#11 signer offers. The rest fails at start, clearly.
function checkSigningPkcs11(
  checker: Checker,
  value: unknown,
  alg: SigningAlgorithm,
): SigningPkcs11Config | undefined {
  if (value === undefined) return undefined
  const input = checker.object(value, 'signing.pkcs11')
  if (input === undefined) return undefined
  for (const key of Object.keys(input))
    if (!PKCS11_KEYS.has(key)) checker.fail(`signing.pkcs11.${key}`, 'is not a known setting')
  const uri = checker.required(input.uri, 'signing.pkcs11.uri')
  if (uri !== undefined) checkPkcs11Uri(checker, uri)
  const pinEnv = checker.required(input.pinEnv, 'signing.pkcs11.pinEnv')
  if (pinEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(pinEnv))
    checker.fail('signing.pkcs11.pinEnv', 'must be the NAME of an environment variable, not a PIN')
  if (!PKCS11_ALGORITHMS.includes(alg))
    checker.fail(
      'signing.alg',
      `must be one of ${PKCS11_ALGORITHMS.join(', ')} with signing.pkcs11`,
    )
  const poolSize = checker.integer(input.poolSize, 'signing.pkcs11.poolSize', 4, 1, 64)
  if (uri === undefined || pinEnv === undefined) return undefined
  return { uri, pinEnv, poolSize }
}

function checkPkcs11Uri(checker: Checker, uri: string): void {
  const path = 'signing.pkcs11.uri'
  if (!uri.startsWith('pkcs11:')) {
    checker.fail(path, 'must be a pkcs11: URI (RFC 7512)')
    return
  }
  const [attributes = '', query = ''] = uri.slice('pkcs11:'.length).split('?', 2)
  if (!/(^|;)object=[^;]+/i.test(attributes))
    checker.fail(path, 'needs object=<label prefix> to name the keys')
  if (/(^|;)id=/i.test(attributes))
    checker.fail(path, 'must not have id=: keys are found by their label')
  const modulePath = /(?:^|&)module-path=([^&]*)/i.exec(query)?.[1]
  if (modulePath === undefined || !decodeURIComponent(modulePath).startsWith('/'))
    checker.fail(path, 'needs module-path=<absolute path of the PKCS#11 module>')
  // Neither is echoed: the message must not repeat a PIN.
  if (/(?:^|&)pin-value=/i.test(query)) checker.fail(path, 'must not carry a PIN: use pinEnv')
  if (/(?:^|&)pin-source=/i.test(query)) checker.fail(path, 'must not have pin-source: use pinEnv')
}

function checkSigning(checker: Checker, signing: Input): AuthorizationServerConfig['signing'] {
  for (const key of Object.keys(signing))
    if (key !== 'alg' && key !== 'pkcs11') checker.fail(`signing.${key}`, 'is not a known setting')
  const alg = checker.oneOf(signing.alg, 'signing.alg', SIGNING_ALGORITHMS, 'ES256')
  const pkcs11 = checkSigningPkcs11(checker, signing.pkcs11, alg)
  return pkcs11 === undefined ? { alg } : { alg, pkcs11 }
}

/** Collects problems while walking the input, each with its dotted path. */
class Checker {
  readonly issues: string[] = []

  fail(path: string, problem: string): undefined {
    this.issues.push(`${path}: ${problem}`)
    return undefined
  }

  object(value: unknown, path: string): Input | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Input
    return this.fail(path, 'must be an object')
  }

  optionalObject(value: unknown, path: string): Input {
    return value === undefined ? {} : (this.object(value, path) ?? {})
  }

  string(value: unknown, path: string, fallback?: string): string | undefined {
    if (value === undefined) return fallback
    if (typeof value === 'string' && value.length > 0) return value
    return this.fail(path, 'must be a non-empty string')
  }

  required(value: unknown, path: string): string | undefined {
    if (value === undefined) return this.fail(path, 'is required')
    return this.string(value, path)
  }

  boolean(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback
    if (typeof value === 'boolean') return value
    this.fail(path, 'must be true or false')
    return fallback
  }

  seconds(value: unknown, path: string, fallback: number, max = 366 * 86400): number {
    if (value === undefined) return fallback
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max)
      return value
    this.fail(path, `must be a whole number of seconds from 1 to ${max}`)
    return fallback
  }

  integer(value: unknown, path: string, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)
      return value
    this.fail(path, `must be a whole number from ${min} to ${max}`)
    return fallback
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
      return value as T
    this.fail(path, `must be one of ${allowed.join(', ')}`)
    return fallback
  }

  listOf<T extends string>(
    value: unknown,
    path: string,
    allowed: readonly T[],
    fallback: T[],
  ): T[] {
    if (value === undefined) return fallback
    if (!Array.isArray(value) || value.length === 0) {
      this.fail(path, 'must be a non-empty array')
      return fallback
    }
    return value.filter((item, i): item is T => {
      if (typeof item === 'string' && (allowed as readonly string[]).includes(item)) return true
      this.fail(`${path}[${i}]`, `must be one of ${allowed.join(', ')}`)
      return false
    })
  }

  url(value: unknown, path: string, kind: 'issuer' | 'redirect' | 'any'): string | undefined {
    const text = this.string(value, path)
    if (text === undefined) return undefined
    const problem = checkUrl(text, kind)
    return problem === undefined ? text : this.fail(path, problem)
  }
}

/**
 * Why a URL is not acceptable for its use, or `undefined` when it is. Issuers and redirect URIs
 * must be https, except plain http on a loopback host (RFC 8252 §7.3, RFC 9449 §2).
 * @example
 * ```ts
 * checkUrl('http://example.com/cb', 'redirect') // 'must be an absolute https URL or loopback http'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2
 */
export function checkUrl(text: string, kind: 'issuer' | 'redirect' | 'any'): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'must be an absolute https URL or loopback http'
  }
  const secure =
    url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
  if (kind !== 'any' && !secure) return 'must be an absolute https URL or loopback http'
  if (kind === 'any' && !/^(https?|postgres(ql)?|rediss?):$/.test(url.protocol))
    return 'must be an absolute URL'
  if (url.hash !== '' || text.includes('#')) return 'must not contain a fragment'
  if (kind === 'issuer' && (url.search !== '' || text.includes('?')))
    return 'must not contain a query'
  if (kind !== 'any' && (url.username !== '' || url.password !== ''))
    return 'must not contain user info'
  return undefined
}

function checkScope(checker: Checker, value: unknown, path: string): string {
  // An empty scope is valid (a client without scopes), and is what validation itself produces.
  if (value === '' || value === undefined) return ''
  const scope = checker.string(value, path)
  if (scope === undefined) return ''
  for (const token of scope.split(' ')) {
    if (!SCOPE_TOKEN.test(token)) {
      checker.fail(path, 'must be space-separated scope tokens (RFC 6749 §3.3)')
      return ''
    }
  }
  return scope
}

function checkJwks(checker: Checker, value: unknown, path: string): ClientConfig['jwks'] {
  if (value === undefined) return undefined
  const jwks = checker.object(value, path)
  if (jwks === undefined) return undefined
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0)
    return checker.fail(`${path}.keys`, 'must be a non-empty array')
  const keys: Record<string, unknown>[] = []
  jwks.keys.forEach((key: unknown, i: number) => {
    const jwk = checker.object(key, `${path}.keys[${i}]`)
    if (jwk === undefined) return
    if (!['EC', 'RSA', 'OKP'].includes(jwk.kty as string))
      checker.fail(`${path}.keys[${i}].kty`, 'must be EC, RSA or OKP')
    else if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk)) {
      checker.fail(`${path}.keys[${i}]`, 'must be a public key (private members found)')
    } else keys.push(jwk)
  })
  return { keys }
}

/**
 * Validates one client's metadata, as in the config file or an RFC 7591 registration request.
 * Problems are reported as `<path>.<field>: <problem>`.
 * @example
 * ```ts
 * const issues: string[] = []
 * const client = checkClient({ client_id: 'app', redirect_uris: ['https://app.example/cb'] }, 'clients[0]', issues)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export function checkClient(
  value: unknown,
  path: string,
  issues: string[],
  serverProfile?: ProfileName,
): ClientConfig | undefined {
  const checker = new Checker()
  const client = checker.object(value, path)
  if (client === undefined) {
    issues.push(...checker.issues)
    return undefined
  }
  const clientId = checker.required(client.client_id, `${path}.client_id`)
  if (clientId !== undefined && !CLIENT_ID.test(clientId))
    checker.fail(`${path}.client_id`, 'must be 1 to 255 visible ASCII characters')
  const secret = checker.string(client.client_secret, `${path}.client_secret`)
  if (secret !== undefined && secret.length < 16)
    checker.fail(`${path}.client_secret`, 'must be at least 16 characters')
  const jwks = checkJwks(checker, client.jwks, `${path}.jwks`)
  const defaultMethod: ClientAuthMethod =
    secret !== undefined ? 'client_secret_basic' : jwks !== undefined ? 'private_key_jwt' : 'none'
  const method = checker.oneOf(
    client.token_endpoint_auth_method,
    `${path}.token_endpoint_auth_method`,
    AUTH_METHODS,
    defaultMethod,
  )
  if (
    (method === 'client_secret_basic' || method === 'client_secret_post') &&
    secret === undefined
  ) {
    checker.fail(`${path}.client_secret`, `is required for ${method}`)
  }
  if (method === 'private_key_jwt' && jwks === undefined)
    checker.fail(`${path}.jwks`, 'is required for private_key_jwt')
  if (method === 'none' && secret !== undefined)
    checker.fail(`${path}.client_secret`, 'must not be set for a public client (none)')

  const grantTypes = checker.listOf(client.grant_types, `${path}.grant_types`, GRANT_TYPES, [
    'authorization_code',
    'refresh_token',
  ])
  if (method === 'none' && grantTypes.includes('client_credentials')) {
    checker.fail(
      `${path}.grant_types`,
      'client_credentials needs an authenticated (confidential) client',
    )
  }
  if (method === 'none' && grantTypes.includes(TOKEN_EXCHANGE_GRANT)) {
    checker.fail(
      `${path}.grant_types`,
      'token exchange needs an authenticated (confidential) client',
    )
  }
  const redirectUris: string[] = []
  if (client.redirect_uris !== undefined && !Array.isArray(client.redirect_uris)) {
    checker.fail(`${path}.redirect_uris`, 'must be an array')
  } else {
    ;((client.redirect_uris as unknown[] | undefined) ?? []).forEach((uri, i) => {
      const checked = checker.url(uri, `${path}.redirect_uris[${i}]`, 'redirect')
      if (checked !== undefined) redirectUris.push(checked)
    })
  }
  if (
    grantTypes.includes('authorization_code') &&
    redirectUris.length === 0 &&
    client.redirect_uris === undefined
  ) {
    checker.fail(`${path}.redirect_uris`, 'is required for the authorization_code grant')
  }
  const dpopBound = checker.boolean(
    client.dpop_bound_access_tokens,
    `${path}.dpop_bound_access_tokens`,
    false,
  )
  const bearer = checker.boolean(client.bearer_access_tokens, `${path}.bearer_access_tokens`, false)
  if (dpopBound && bearer)
    checker.fail(`${path}.bearer_access_tokens`, 'contradicts dpop_bound_access_tokens')
  const format =
    client.access_token_format === undefined
      ? undefined
      : checker.oneOf(
          client.access_token_format,
          `${path}.access_token_format`,
          ['jwt', 'opaque'] as const,
          'jwt',
        )
  const audience =
    client.audience === undefined
      ? undefined
      : checker.url(client.audience, `${path}.audience`, 'any')
  const scope = checkScope(checker, client.scope, `${path}.scope`)
  const firstParty = checker.boolean(client.first_party, `${path}.first_party`, false)
  const requirePar = checker.boolean(
    client.require_pushed_authorization_requests,
    `${path}.require_pushed_authorization_requests`,
    false,
  )
  if (client.client_name !== undefined) checker.string(client.client_name, `${path}.client_name`)
  const resourceServer = checkResourceServer(checker, client.resource_server, path)
  if (resourceServer !== undefined && method === 'none')
    checker.fail(`${path}.resource_server`, 'needs an authenticated (confidential) client')
  const profile =
    client.profile === undefined
      ? undefined
      : checker.oneOf(client.profile, `${path}.profile`, PROFILES, 'fapi2')
  issues.push(...checker.issues)
  if (checker.issues.length > 0 || clientId === undefined) return undefined
  const checked: ClientConfig = {
    client_id: clientId,
    ...(secret === undefined ? {} : { client_secret: secret }),
    token_endpoint_auth_method: method,
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    scope,
    dpop_bound_access_tokens: dpopBound,
    ...(format === undefined ? {} : { access_token_format: format }),
    bearer_access_tokens: bearer,
    first_party: firstParty,
    ...(jwks === undefined ? {} : { jwks }),
    require_pushed_authorization_requests: requirePar,
    ...(typeof client.client_name === 'string' ? { client_name: client.client_name } : {}),
    ...(audience === undefined ? {} : { audience }),
    ...(resourceServer === undefined ? {} : { resource_server: resourceServer }),
    ...(profile === undefined ? {} : { profile }),
  }
  if ((profile ?? serverProfile) !== 'fapi2') return checked
  const before = issues.length
  const held = holdClientToFapi2(checked, path, issues)
  return issues.length === before ? held : undefined
}

// `resource_server`: true, false (the same as leaving it out), or a non-empty list of audiences.
function checkResourceServer(
  checker: Checker,
  value: unknown,
  clientPath: string,
): ClientConfig['resource_server'] {
  const path = `${clientPath}.resource_server`
  if (value === undefined || value === false) return undefined
  if (value === true) return true
  if (!Array.isArray(value) || value.length === 0)
    return checker.fail(path, 'must be true, false or a non-empty array of audiences')
  const audiences: string[] = []
  value.forEach((item, i) => {
    const audience = checker.url(item, `${path}[${i}]`, 'any')
    if (audience !== undefined) audiences.push(audience)
  })
  return audiences
}

function checkUsers(checker: Checker, value: unknown): UserConfig[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) return checker.fail('users', 'must be an array') ?? []
  const users: UserConfig[] = []
  const seen = new Set<string>()
  value.forEach((item, i) => {
    const user = checker.object(item, `users[${i}]`)
    if (user === undefined) return
    const username = checker.required(user.username, `users[${i}].username`)
    const hash = checker.required(user.passwordHash, `users[${i}].passwordHash`)
    const hashProblem = hash === undefined ? undefined : storedHashProblem(hash)
    if (hashProblem !== undefined) checker.fail(`users[${i}].passwordHash`, hashProblem)
    if (username !== undefined && seen.has(username))
      checker.fail(`users[${i}].username`, 'is a duplicate')
    if (username === undefined || hash === undefined) return
    seen.add(username)
    users.push({
      username,
      passwordHash: hash,
      subject: checkSubject(checker, user.subject, `users[${i}].subject`) ?? username,
    })
  })
  return users
}

// YAML reads an unquoted 248289761001 as a number. Turning it back into text could change it
// (leading zeros, digits beyond 2^53), and a subject must name one user exactly: ask for quotes.
function checkSubject(checker: Checker, value: unknown, path: string): string | undefined {
  if (typeof value === 'number')
    return checker.fail(
      path,
      'must be a string: put it in quotes (YAML reads bare digits as a number)',
    )
  return checker.string(value, path)
}

function checkClients(
  checker: Checker,
  value: unknown,
  serverProfile: ProfileName | undefined,
): ClientConfig[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) return checker.fail('clients', 'must be an array') ?? []
  const clients: ClientConfig[] = []
  const seen = new Set<string>()
  value.forEach((item, i) => {
    const client = checkClient(item, `clients[${i}]`, checker.issues, serverProfile)
    if (client === undefined) return
    if (seen.has(client.client_id)) checker.fail(`clients[${i}].client_id`, 'is a duplicate')
    seen.add(client.client_id)
    clients.push(client)
  })
  return clients
}

/** A `${NAME}` reference to a variable that is not set, and where it was. */
interface UnsetVariable {
  path: string
  issue: string
}

// `${NAME}` inside any string is replaced by the environment variable; a missing one is an error.
function substituteEnvironment(
  value: unknown,
  path: string,
  env: NodeJS.ProcessEnv,
  unset: UnsetVariable[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const replacement = env[name]
      if (replacement === undefined)
        unset.push({ path, issue: `${path}: environment variable ${name} is not set` })
      return replacement ?? ''
    })
  }
  if (Array.isArray(value))
    return value.map((item, i) => substituteEnvironment(item, `${path}[${i}]`, env, unset))
  if (typeof value === 'object' && value !== null) {
    const out: Input = {}
    for (const [key, member] of Object.entries(value)) {
      out[key] = substituteEnvironment(member, path === '' ? key : `${path}.${key}`, env, unset)
    }
    return out
  }
  return value
}

// A field left empty by an unset variable makes its neighbours look wrong as well (a client
// without its secret reads as a public client that may not use client_credentials). Each unset
// variable is reported once; what only follows from it is left out, and any real problem there
// shows up once the variable is set.
function followsFromUnset(issue: string, unsetVariables: readonly UnsetVariable[]): boolean {
  const path = issue.slice(0, issue.indexOf(': '))
  for (const { path: unset } of unsetVariables) {
    if (path === unset) return true
    const owner = unset.replace(/(\.[^.[\]]+|\[\d+\])$/, '')
    if (
      owner !== '' &&
      owner !== unset &&
      (path.startsWith(`${owner}.`) || path.startsWith(`${owner}[`))
    )
      return true
  }
  return false
}

function setPath(target: Input, path: string, value: string): void {
  const parts = path.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) {
    const next = node[part]
    node =
      typeof next === 'object' && next !== null && !Array.isArray(next)
        ? (next as Input)
        : (node[part] = {})
  }
  node[parts.at(-1)!] = value
}

function applyEnvironment(input: Input, env: NodeJS.ProcessEnv): Input {
  const copy = structuredClone(input)
  for (const [name, path] of Object.entries(ENVIRONMENT_VARIABLES)) {
    const value = env[name]
    if (value !== undefined && value !== '') setPath(copy, path, value)
  }
  return copy
}

const KNOWN_TOP_LEVEL = new Set([
  'issuer',
  'profile',
  'authorizationResponse',
  'clients',
  'users',
  'accessTokens',
  'resources',
  'refreshTokens',
  'authorizationCodes',
  'par',
  'signing',
  'dpop',
  'registration',
  'storage',
  'replay',
  'lint',
  'cors',
  'limits',
  'rateLimits',
  'metrics',
  'trustProxy',
  'passwords',
  'tokenExchange',
])

const DEFAULT_RATE_LIMITS: Omit<RateLimitConfig, 'enabled'> = {
  token: { max: 3000, windowSeconds: 60 },
  par: { max: 600, windowSeconds: 60 },
  authorize: { max: 300, windowSeconds: 60 },
  introspect: { max: 6000, windowSeconds: 60 },
  login: { max: 10, windowSeconds: 300 },
  loginIp: { max: 100, windowSeconds: 300 },
  clientAuthFailures: { max: 100, windowSeconds: 60 },
  clientAuthFailuresIp: { max: 100, windowSeconds: 60 },
}

function checkLimits(checker: Checker, input: Input): AuthorizationServerConfig['limits'] {
  const limits = checker.optionalObject(input.limits, 'limits')
  for (const key of Object.keys(limits)) {
    if (!['bodyBytes', 'headerBytes', 'requestTimeoutMs', 'jsonDepth'].includes(key))
      checker.fail(`limits.${key}`, 'is not a known setting')
  }
  return {
    bodyBytes: checker.integer(limits.bodyBytes, 'limits.bodyBytes', 65_536, 1024, 1 << 24),
    headerBytes: checker.integer(limits.headerBytes, 'limits.headerBytes', 16_384, 1024, 1 << 20),
    requestTimeoutMs: checker.integer(
      limits.requestTimeoutMs,
      'limits.requestTimeoutMs',
      30_000,
      100,
      3_600_000,
    ),
    jsonDepth: checker.integer(limits.jsonDepth, 'limits.jsonDepth', 16, 2, 256),
  }
}

function checkRateLimit(
  checker: Checker,
  value: unknown,
  name: keyof typeof DEFAULT_RATE_LIMITS,
): RateLimit {
  const fallback = DEFAULT_RATE_LIMITS[name]
  const limit = checker.optionalObject(value, `rateLimits.${name}`)
  for (const member of Object.keys(limit)) {
    if (member !== 'max' && member !== 'windowSeconds')
      checker.fail(`rateLimits.${name}.${member}`, 'is not a known setting')
  }
  return {
    max: checker.integer(limit.max, `rateLimits.${name}.max`, fallback.max, 1, 1_000_000_000),
    windowSeconds: checker.seconds(
      limit.windowSeconds,
      `rateLimits.${name}.windowSeconds`,
      fallback.windowSeconds,
      86400,
    ),
  }
}

function checkRateLimits(checker: Checker, input: Input): RateLimitConfig {
  const rateLimits = checker.optionalObject(input.rateLimits, 'rateLimits')
  for (const key of Object.keys(rateLimits)) {
    if (key !== 'enabled' && !(key in DEFAULT_RATE_LIMITS))
      checker.fail(`rateLimits.${key}`, 'is not a known setting')
  }
  return {
    enabled: checker.boolean(rateLimits.enabled, 'rateLimits.enabled', true),
    token: checkRateLimit(checker, rateLimits.token, 'token'),
    par: checkRateLimit(checker, rateLimits.par, 'par'),
    authorize: checkRateLimit(checker, rateLimits.authorize, 'authorize'),
    introspect: checkRateLimit(checker, rateLimits.introspect, 'introspect'),
    login: checkRateLimit(checker, rateLimits.login, 'login'),
    loginIp: checkRateLimit(checker, rateLimits.loginIp, 'loginIp'),
    clientAuthFailures: checkRateLimit(
      checker,
      rateLimits.clientAuthFailures,
      'clientAuthFailures',
    ),
    clientAuthFailuresIp: checkRateLimit(
      checker,
      rateLimits.clientAuthFailuresIp,
      'clientAuthFailuresIp',
    ),
  }
}

function checkDpop(
  checker: Checker,
  input: Input,
  profile: ProfileName | undefined,
): AuthorizationServerConfig['dpop'] {
  const dpop = checker.optionalObject(input.dpop, 'dpop')
  const nonce = checker.optionalObject(dpop.nonce, 'dpop.nonce')
  const secret = checker.string(nonce.secret, 'dpop.nonce.secret')
  if (secret !== undefined && Buffer.byteLength(secret) < 32)
    checker.fail('dpop.nonce.secret', 'must be at least 32 bytes')
  return {
    // Under the FAPI 2.0 profile the default is the profile's list (§5.4).
    algorithms: checker.listOf(
      dpop.algorithms,
      'dpop.algorithms',
      SUPPORTED_ALGORITHMS,
      profile === 'fapi2' ? [...FAPI2_ALGORITHMS] : [...SUPPORTED_ALGORITHMS],
    ),
    required: checker.boolean(dpop.required, 'dpop.required', true),
    maxAge: checker.seconds(dpop.maxAge, 'dpop.maxAge', 60, 3600),
    clockTolerance: checker.seconds(dpop.clockTolerance, 'dpop.clockTolerance', 10, 600),
    nonce: {
      required: checker.boolean(nonce.required, 'dpop.nonce.required', true),
      ...(secret === undefined ? {} : { secret }),
      stepSeconds: checker.seconds(nonce.stepSeconds, 'dpop.nonce.stepSeconds', 60, 3600),
    },
  }
}

function checkAuthorizationResponse(
  checker: Checker,
  input: Input,
): AuthorizationServerConfig['authorizationResponse'] {
  const response = checker.optionalObject(input.authorizationResponse, 'authorizationResponse')
  for (const key of Object.keys(response))
    if (key !== 'iss') checker.fail(`authorizationResponse.${key}`, 'is not a known setting')
  return { iss: checker.boolean(response.iss, 'authorizationResponse.iss', true) }
}

function checkResources(checker: Checker, input: Input): ResourceConfig[] {
  const value = input.resources
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    checker.fail('resources', 'must be an array')
    return []
  }
  const resources: ResourceConfig[] = []
  value.forEach((item, i) => {
    const path = `resources[${i}]`
    const entry = checker.object(item, path)
    if (entry === undefined) return
    const identifier = checker.url(entry.identifier, `${path}.identifier`, 'any')
    if (identifier === undefined) return
    if (resources.some((known) => known.identifier === identifier))
      checker.fail(`${path}.identifier`, 'is listed twice')
    const format =
      entry.accessTokenFormat === undefined
        ? undefined
        : checker.oneOf(
            entry.accessTokenFormat,
            `${path}.accessTokenFormat`,
            ['jwt', 'opaque'] as const,
            'jwt',
          )
    resources.push({ identifier, ...(format === undefined ? {} : { accessTokenFormat: format }) })
  })
  return resources
}

// An origin is what a browser sends in `Origin`: scheme, host and port only (RFC 6454 §6.1).
function checkCors(checker: Checker, input: Input): AuthorizationServerConfig['cors'] {
  const cors = checker.optionalObject(input.cors, 'cors')
  const value = cors.allowedOrigins
  if (value === undefined) return { allowedOrigins: [] }
  if (!Array.isArray(value)) {
    checker.fail('cors.allowedOrigins', 'must be an array')
    return { allowedOrigins: [] }
  }
  const origins: string[] = []
  value.forEach((item, i) => {
    const path = `cors.allowedOrigins[${i}]`
    const text = checker.url(item, path, 'redirect')
    if (text === undefined) return
    if (new URL(text).origin !== text.replace(/\/$/, ''))
      checker.fail(path, 'must be an origin (scheme://host[:port]) without a path or query')
    else origins.push(new URL(text).origin)
  })
  return { allowedOrigins: origins }
}

function checkSweep(
  checker: Checker,
  storage: Input,
): AuthorizationServerConfig['storage']['sweep'] {
  const sweep = checker.optionalObject(storage.sweep, 'storage.sweep')
  for (const key of Object.keys(sweep)) {
    if (!['intervalSeconds', 'batchSize', 'graceSeconds'].includes(key))
      checker.fail(`storage.sweep.${key}`, 'is not a known setting')
  }
  return {
    intervalSeconds: checker.integer(
      sweep.intervalSeconds,
      'storage.sweep.intervalSeconds',
      60,
      0,
      86400,
    ),
    batchSize: checker.integer(sweep.batchSize, 'storage.sweep.batchSize', 500, 1, 100_000),
    graceSeconds: checker.integer(sweep.graceSeconds, 'storage.sweep.graceSeconds', 60, 0, 86400),
  }
}

function checkStorage(
  checker: Checker,
  input: Input,
): Pick<AuthorizationServerConfig, 'storage' | 'replay'> {
  const storage = checker.optionalObject(input.storage, 'storage')
  const replay = checker.optionalObject(input.replay, 'replay')
  const databaseUrl =
    storage.databaseUrl === undefined
      ? undefined
      : checker.url(storage.databaseUrl, 'storage.databaseUrl', 'any')
  if (databaseUrl !== undefined && !/^postgres(ql)?:/.test(databaseUrl))
    checker.fail('storage.databaseUrl', 'must be a postgres:// URL')
  const schema = checker.string(storage.schema, 'storage.schema')
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    checker.fail('storage.schema', 'must be a lower-case SQL identifier')
  const redisUrl =
    replay.redisUrl === undefined
      ? undefined
      : checker.url(replay.redisUrl, 'replay.redisUrl', 'any')
  if (redisUrl !== undefined && !/^rediss?:/.test(redisUrl))
    checker.fail('replay.redisUrl', 'must be a redis:// or rediss:// URL')
  return {
    storage: {
      ...(databaseUrl === undefined ? {} : { databaseUrl }),
      dataDir: checker.string(storage.dataDir, 'storage.dataDir', './data') ?? './data',
      ...(schema === undefined ? {} : { schema }),
      sweep: checkSweep(checker, storage),
    },
    replay: {
      ...(redisUrl === undefined ? {} : { redisUrl }),
      keyPrefix:
        checker.string(replay.keyPrefix, 'replay.keyPrefix', 'keybound:as:dpop:') ??
        'keybound:as:dpop:',
    },
  }
}

function checkPasswords(checker: Checker, input: Input): PasswordConfig {
  const passwords = checker.optionalObject(input.passwords, 'passwords')
  for (const key of Object.keys(passwords)) {
    if (key !== 'scryptLogN') checker.fail(`passwords.${key}`, 'is not a known setting')
  }
  return {
    scryptLogN: checker.integer(
      passwords.scryptLogN,
      'passwords.scryptLogN',
      DEFAULT_SCRYPT_LOG_N,
      MIN_SCRYPT_LOG_N,
      MAX_SCRYPT_LOG_N,
    ),
  }
}

// An IPv4 or IPv6 address, optionally with a prefix length in range (`10.0.0.0/8`, `::1`).
function isAddressOrRange(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/')
  const version = isIP(address ?? '')
  if (version === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128)
}

function checkTrustProxy(checker: Checker, value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) return checker.fail('trustProxy', 'must be an array') ?? []
  return value.filter((item, i): item is string => {
    if (typeof item === 'string' && isAddressOrRange(item)) return true
    checker.fail(`trustProxy[${i}]`, 'must be an IP address or CIDR range (10.0.0.0/8)')
    return false
  })
}

function checkMetrics(checker: Checker, input: Input): MetricsConfig {
  const metrics = checker.optionalObject(input.metrics, 'metrics')
  for (const key of Object.keys(metrics)) {
    if (!['port', 'host', 'onMainListener'].includes(key))
      checker.fail(`metrics.${key}`, 'is not a known setting')
  }
  const port =
    metrics.port === undefined
      ? undefined
      : checker.integer(metrics.port, 'metrics.port', 0, 0, 65_535)
  return {
    ...(port === undefined ? {} : { port }),
    host: checker.string(metrics.host, 'metrics.host', '127.0.0.1') ?? '127.0.0.1',
    onMainListener: checker.boolean(metrics.onMainListener, 'metrics.onMainListener', false),
  }
}

const REGISTRATION_SETTINGS = [
  'initialAccessToken',
  'allowedScopes',
  'allowClientCredentials',
  'trustedRedirectHosts',
]

function checkRegistrationPolicy(checker: Checker, registration: Input): RegistrationPolicy {
  for (const key of Object.keys(registration)) {
    if (!REGISTRATION_SETTINGS.includes(key))
      checker.fail(`registration.${key}`, 'is not a known setting')
  }
  return {
    allowedScopes: checkNameList(
      checker,
      registration.allowedScopes,
      'registration.allowedScopes',
      SCOPE_TOKEN,
      'must be a scope token (RFC 6749 §3.3)',
    ),
    allowClientCredentials: checker.boolean(
      registration.allowClientCredentials,
      'registration.allowClientCredentials',
      false,
    ),
    trustedRedirectHosts: checkNameList(
      checker,
      registration.trustedRedirectHosts,
      'registration.trustedRedirectHosts',
      /^[a-z0-9.-]{1,253}$/,
      'must be a lower-case host name',
    ),
  }
}

// An optional array of strings that each match `shape`; every bad item is named by its index.
function checkNameList(
  checker: Checker,
  value: unknown,
  path: string,
  shape: RegExp,
  problem: string,
): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) return checker.fail(path, 'must be an array') ?? []
  return value.filter((item, i): item is string => {
    if (typeof item === 'string' && shape.test(item)) return true
    checker.fail(`${path}[${i}]`, problem)
    return false
  })
}

/**
 * Validates a parsed config document after applying `${VAR}` references and the environment
 * variables of {@link ENVIRONMENT_VARIABLES}. Throws a {@link ConfigError} naming every bad field.
 * @example
 * ```ts
 * const config = resolveConfig({ issuer: 'https://as.example.com', clients: [...] }, process.env)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function resolveConfig(
  document: unknown,
  env: NodeJS.ProcessEnv = process.env,
): AuthorizationServerConfig {
  const unset: UnsetVariable[] = []
  const checker = new Checker()
  const root = checker.object(document ?? {}, '(root)')
  if (root === undefined) throw new ConfigError(checker.issues)
  const input = applyEnvironment(substituteEnvironment(root, '', env, unset) as Input, env)
  for (const key of Object.keys(input))
    if (!KNOWN_TOP_LEVEL.has(key)) checker.fail(key, 'is not a known setting')

  const accessTokens = checker.optionalObject(input.accessTokens, 'accessTokens')
  const refreshTokens = checker.optionalObject(input.refreshTokens, 'refreshTokens')
  const codes = checker.optionalObject(input.authorizationCodes, 'authorizationCodes')
  const par = checker.optionalObject(input.par, 'par')
  const signing = checker.optionalObject(input.signing, 'signing')
  const lint = checker.optionalObject(input.lint, 'lint')
  const registration =
    input.registration === undefined
      ? undefined
      : checker.object(input.registration, 'registration')
  const initialAccessToken =
    registration === undefined
      ? undefined
      : checker.required(registration.initialAccessToken, 'registration.initialAccessToken')
  if (initialAccessToken !== undefined && initialAccessToken.length < 16) {
    checker.fail('registration.initialAccessToken', 'must be at least 16 characters')
  }
  const audience =
    accessTokens.audience === undefined
      ? undefined
      : checker.url(accessTokens.audience, 'accessTokens.audience', 'any')
  const issuer =
    input.issuer === undefined ? undefined : checker.url(input.issuer, 'issuer', 'issuer')
  const profile =
    input.profile === undefined
      ? undefined
      : checker.oneOf(input.profile, 'profile', PROFILES, 'fapi2')
  const refreshLifetime = checker.seconds(
    refreshTokens.lifetime,
    'refreshTokens.lifetime',
    14 * 86400,
  )

  const config: AuthorizationServerConfig = {
    ...(issuer === undefined ? {} : { issuer: issuer.replace(/\/+$/, '') }),
    ...(profile === undefined ? {} : { profile }),
    authorizationResponse: checkAuthorizationResponse(checker, input),
    clients: checkClients(checker, input.clients, profile),
    users: checkUsers(checker, input.users),
    accessTokens: {
      lifetime: checker.seconds(accessTokens.lifetime, 'accessTokens.lifetime', 300, 86400),
      format: checker.oneOf(
        accessTokens.format,
        'accessTokens.format',
        ['jwt', 'opaque'] as const,
        'jwt',
      ),
      ...(audience === undefined ? {} : { audience }),
    },
    resources: checkResources(checker, input),
    refreshTokens: {
      lifetime: refreshLifetime,
      absoluteLifetime: checker.seconds(
        refreshTokens.absoluteLifetime,
        'refreshTokens.absoluteLifetime',
        Math.max(90 * 86400, refreshLifetime),
      ),
    },
    authorizationCodes: {
      lifetime: checker.seconds(codes.lifetime, 'authorizationCodes.lifetime', 60, 600),
    },
    par: {
      lifetime: checker.seconds(par.lifetime, 'par.lifetime', 60, 600),
      // The FAPI 2.0 profile requires PAR (§5.3.2.2): on by default there.
      required: checker.boolean(par.required, 'par.required', profile === 'fapi2'),
    },
    signing: checkSigning(checker, signing),
    dpop: checkDpop(checker, input, profile),
    ...(initialAccessToken === undefined
      ? {}
      : {
          registration: { initialAccessToken, ...checkRegistrationPolicy(checker, registration!) },
        }),
    ...checkStorage(checker, input),
    lint: {
      maxAccessTokenLifetimeWithoutNonce: checker.seconds(
        lint.maxAccessTokenLifetimeWithoutNonce,
        'lint.maxAccessTokenLifetimeWithoutNonce',
        3600,
      ),
    },
    cors: checkCors(checker, input),
    limits: checkLimits(checker, input),
    rateLimits: checkRateLimits(checker, input),
    metrics: checkMetrics(checker, input),
    trustProxy: checkTrustProxy(checker, input.trustProxy),
    passwords: checkPasswords(checker, input),
    tokenExchange: { audiences: [], delegation: [], maxActDepth: 2, trustedIssuers: [] },
  }
  config.tokenExchange = checkTokenExchange(input.tokenExchange, config.clients, checker.issues)
  if (config.refreshTokens.absoluteLifetime < config.refreshTokens.lifetime) {
    checker.fail(
      'refreshTokens.absoluteLifetime',
      'must not be shorter than refreshTokens.lifetime',
    )
  }
  checker.issues.push(...fapi2ServerIssues(config))
  const issues = [
    ...unset.map((variable) => variable.issue),
    ...checker.issues.filter((issue) => !followsFromUnset(issue, unset)),
  ]
  if (issues.length > 0) throw new ConfigError(issues)
  return config
}

/**
 * Parses a JSON or YAML config text (YAML is a superset of JSON, so one parser reads both) and
 * validates it with {@link resolveConfig}.
 * @example
 * ```ts
 * const config = parseConfig('issuer: https://as.example.com\nclients: []\n')
 * ```
 * @see https://yaml.org/spec/1.2.2/
 */
export function parseConfig(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
): AuthorizationServerConfig {
  let document: unknown
  try {
    // logLevel 'error': a YAML warning (such as an unknown tag) must not go to the process log.
    document = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100, logLevel: 'error' })
  } catch (error) {
    throw new ConfigError([
      `(file): not valid JSON or YAML: ${(error as Error).message.split('\n')[0]}`,
    ])
  }
  return resolveConfig(document, env)
}

/**
 * Reads and validates a config file (`.json`, `.yaml` or `.yml`).
 * @example
 * ```ts
 * const config = await loadConfigFile('./keybound-as.yaml')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AuthorizationServerConfig> {
  return parseConfig(await readFile(path, 'utf8'), env)
}

// Hashes below the current cost still work; each is replaced at the user's next sign-in.
function weakHashWarnings(config: AuthorizationServerConfig): string[] {
  const current = scryptCost(config.passwords.scryptLogN)
  return config.users.flatMap((user, i) => {
    const cost = storedHashCost(user.passwordHash)
    if (cost === undefined || cost.N >= current.N) return []
    return [
      `users[${i}].passwordHash: scrypt N=${cost.N} is below the current N=${current.N}; ` +
        "it is replaced at the user's next sign-in (or run keybound-as hash-password)",
    ]
  })
}

/**
 * Configuration warnings that are not errors. AS16 (RFC 9449 §11.2): without nonces, DPoP
 * access tokens should not be long-lived, because pre-generated proofs stay usable.
 * @example
 * ```ts
 * for (const warning of lintConfig(config)) logger.warn(warning)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.2
 */
export function lintConfig(config: AuthorizationServerConfig): string[] {
  const warnings: string[] = []
  const limit = config.lint.maxAccessTokenLifetimeWithoutNonce
  if (!config.dpop.nonce.required && config.accessTokens.lifetime > limit) {
    warnings.push(
      `accessTokens.lifetime: ${config.accessTokens.lifetime} s without DPoP nonces (dpop.nonce.required: false) exceeds ${limit} s; ` +
        'RFC 9449 §11.2 says such deployments SHOULD NOT issue long-lived DPoP-bound access tokens',
    )
  }
  if (!config.dpop.required && config.clients.some((client) => !client.dpop_bound_access_tokens)) {
    warnings.push(
      'dpop.required: false lets clients without dpop_bound_access_tokens obtain Bearer access tokens',
    )
  }
  warnings.push(...weakHashWarnings(config))
  return warnings
}
