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
import { SUPPORTED_ALGORITHMS, type DPoPAlgorithm } from '@keybound/core'
import { NQCHAR_TOKEN } from '@keybound/core/internal'
import {
  Checker,
  checkUrl,
  ConfigInvalid,
  describeUnparsable,
  describeUnset,
  findUnknownKeys,
  followsFromUnset,
  substituteReferences,
  URL_RULES,
  writeShorthandReferences,
  type ConfigObject,
} from '@keybound/config-kit'
import { parse as parseYaml } from 'yaml'
import { checkClient } from './clients/metadata.js'
import { AUTHORIZATION_SERVER_SHAPE, SIGNING_ALGORITHMS } from './config/shape.js'
import type { AuthorizationServerErrorCode } from './errors.js'
import {
  DEFAULT_SCRYPT_LOG_N,
  MAX_SCRYPT_LOG_N,
  MIN_SCRYPT_LOG_N,
  scryptCost,
  storedHashCost,
  storedHashProblem,
} from './users/passwords.js'
import {
  FAPI2_ALGORITHMS,
  fapi2ServerIssues,
  PROFILES,
  type ProfileName,
} from './profiles/fapi2.js'
import {
  checkTokenExchange,
  TOKEN_EXCHANGE_GRANT,
  type TokenExchangeConfig,
} from './grants/token-exchange-config.js'

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
export class ConfigError extends ConfigInvalid {
  /** The stable code of this error class. */
  static code: AuthorizationServerErrorCode = 'ERR_DPOP_AS_CONFIG_INVALID'
  /** The stable code of this error. */
  declare readonly code: AuthorizationServerErrorCode
  constructor(issues: readonly string[]) {
    super('configuration', issues)
  }
}

/**
 * Environment variables that fill a setting without a `${NAME}` reference in the file, by the
 * setting they fill: shorthands kept for older files; `${NAME}` is the one mechanism both
 * config files share (ADR 0047).
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

// The client-metadata rules (clients/metadata.ts, shared with /register) and the kit's URL rules.
export { checkClient, checkUrl, URL_RULES }

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
  const uri = checker.required(input.uri, 'signing.pkcs11.uri')
  if (uri !== undefined) checkPkcs11Uri(checker, uri)
  // The PIN itself is read at start, from the variable named here, by the PKCS#11 signer.
  const pinEnv = checker.variableName(input.pinEnv, 'signing.pkcs11.pinEnv')
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

function checkSigning(
  checker: Checker,
  signing: ConfigObject,
): AuthorizationServerConfig['signing'] {
  const alg = checker.oneOf(signing.alg, 'signing.alg', SIGNING_ALGORITHMS, 'ES256')
  const pkcs11 = checkSigningPkcs11(checker, signing.pkcs11, alg)
  return pkcs11 === undefined ? { alg } : { alg, pkcs11 }
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

function checkLimits(checker: Checker, input: ConfigObject): AuthorizationServerConfig['limits'] {
  const limits = checker.optionalObject(input.limits, 'limits')
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

function checkRateLimits(checker: Checker, input: ConfigObject): RateLimitConfig {
  const rateLimits = checker.optionalObject(input.rateLimits, 'rateLimits')
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
  input: ConfigObject,
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
  input: ConfigObject,
): AuthorizationServerConfig['authorizationResponse'] {
  const response = checker.optionalObject(input.authorizationResponse, 'authorizationResponse')
  return { iss: checker.boolean(response.iss, 'authorizationResponse.iss', true) }
}

function checkResources(checker: Checker, input: ConfigObject): ResourceConfig[] {
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
    const identifier = checker.url(entry.identifier, `${path}.identifier`, URL_RULES.identifier)
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
function checkCors(checker: Checker, input: ConfigObject): AuthorizationServerConfig['cors'] {
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
    const text = checker.url(item, path, URL_RULES.redirect)
    if (text === undefined) return
    if (new URL(text).origin !== text.replace(/\/$/, ''))
      checker.fail(path, 'must be an origin (scheme://host[:port]) without a path or query')
    else origins.push(new URL(text).origin)
  })
  return { allowedOrigins: origins }
}

function checkSweep(
  checker: Checker,
  storage: ConfigObject,
): AuthorizationServerConfig['storage']['sweep'] {
  const sweep = checker.optionalObject(storage.sweep, 'storage.sweep')
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
  input: ConfigObject,
): Pick<AuthorizationServerConfig, 'storage' | 'replay'> {
  const storage = checker.optionalObject(input.storage, 'storage')
  const replay = checker.optionalObject(input.replay, 'replay')
  const databaseUrl =
    storage.databaseUrl === undefined
      ? undefined
      : checker.url(storage.databaseUrl, 'storage.databaseUrl', URL_RULES.postgres)
  const schema = checker.string(storage.schema, 'storage.schema')
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    checker.fail('storage.schema', 'must be a lower-case SQL identifier')
  const redisUrl =
    replay.redisUrl === undefined
      ? undefined
      : checker.url(replay.redisUrl, 'replay.redisUrl', URL_RULES.redis)
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

function checkPasswords(checker: Checker, input: ConfigObject): PasswordConfig {
  const passwords = checker.optionalObject(input.passwords, 'passwords')
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
  return (
    checker.strings(value, 'trustProxy', {
      accepts: isAddressOrRange,
      problem: 'must be an IP address or CIDR range (10.0.0.0/8)',
    }) ?? []
  )
}

function checkMetrics(checker: Checker, input: ConfigObject): MetricsConfig {
  const metrics = checker.optionalObject(input.metrics, 'metrics')
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

function checkRegistrationPolicy(checker: Checker, registration: ConfigObject): RegistrationPolicy {
  return {
    allowedScopes: checkNameList(
      checker,
      registration.allowedScopes,
      'registration.allowedScopes',
      NQCHAR_TOKEN,
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

// An optional array of strings that each match `pattern`; every bad item is named by its index.
function checkNameList(
  checker: Checker,
  value: unknown,
  path: string,
  pattern: RegExp,
  problem: string,
): string[] {
  return checker.strings(value, path, { accepts: pattern, problem }) ?? []
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
  const checker = new Checker()
  const root = checker.object(document ?? {}, '(root)')
  if (root === undefined) throw new ConfigError(checker.issues)
  // A shorthand variable becomes a `${NAME}` reference first: one substitution reads both.
  const substituted = substituteReferences(
    writeShorthandReferences(root, env, ENVIRONMENT_VARIABLES),
    env,
  )
  const input = substituted.document as ConfigObject
  // Unknown members at any depth, named before the values are judged (ADR 0046).
  checker.issues.push(...findUnknownKeys(AUTHORIZATION_SERVER_SHAPE, input))

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
      : checker.url(accessTokens.audience, 'accessTokens.audience', URL_RULES.identifier)
  const issuer =
    input.issuer === undefined ? undefined : checker.url(input.issuer, 'issuer', URL_RULES.issuer)
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
  config.tokenExchange = checkTokenExchange(checker, input.tokenExchange, config.clients)
  if (config.refreshTokens.absoluteLifetime < config.refreshTokens.lifetime) {
    checker.fail(
      'refreshTokens.absoluteLifetime',
      'must not be shorter than refreshTokens.lifetime',
    )
  }
  checker.issues.push(...fapi2ServerIssues(config))
  const issues = [
    ...substituted.unset.map(describeUnset),
    ...checker.issues.filter((issue) => !followsFromUnset(issue, substituted.unset)),
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
    throw new ConfigError([describeUnparsable(error)])
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
