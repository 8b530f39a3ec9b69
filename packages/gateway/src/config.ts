/**
 * The gateway's configuration: the file shape (YAML or JSON), its validation, and the resolved
 * shape the gateway runs on. Secrets never sit in the file: the introspection client secret and
 * the nonce secret are read from environment variables the file names.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { NQCHAR_TOKEN } from '@keybound/core/internal'
import { parse as parseYaml } from 'yaml'
import {
  Checker,
  ConfigInvalid,
  describeUnparsable,
  describeUnset,
  findUnknownKeys,
  followsFromUnset,
  substituteReferences,
  URL_RULES,
  type StringListRule,
} from '@keybound/config-kit'
import {
  builtInProfile,
  createProtectedResourceMetadata,
  PROFILE_NAMES,
  type ProfileName,
  type ProtectedResourceMetadata,
} from '@keybound/server'
import { DPOP_EXPOSED_HEADERS, DPOP_REQUEST_HEADERS, type CorsPolicy } from './lib/cors.js'
import { OVERRIDE_HEADERS } from './lib/headers.js'
import { checkVerify, type VerifyConfig, type VerifyInput } from './verify/config.js'
import { GATEWAY_SHAPE } from './config-shape.js'

/**
 * One route of the gateway, as written in the config file. Give `path` (a pattern) or `prefix`.
 *
 * @example
 * ```yaml
 * routes:
 *   - { path: /items/:id, methods: [GET], scopes: [items:read] }
 *   - { prefix: /admin, scopes: [admin] }
 *   - { path: /status, methods: [GET], public: true }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface RouteConfigInput {
  /** A path pattern: literal segments, `:name` for one segment, a final `/*` for any rest. */
  path?: string
  /** A path prefix matched on segment boundaries: `/api` matches `/api` and `/api/x`, not `/apix`. */
  prefix?: string
  /** Allowed methods (default: any). `GET` also allows `HEAD`. */
  methods?: string[]
  /** Scopes the access token must all carry (403 `insufficient_scope` otherwise). */
  scopes?: string[]
  /** Forward without any authentication. */
  public?: boolean
  /** CORS for this route: replaces the top-level `cors`; `false` turns it off here. */
  cors?: CorsInput | false
}

/**
 * CORS for browser clients on other origins. Preflights are answered by the gateway; actual
 * responses carry the grant. `Authorization` and `DPoP` are always allowed request headers,
 * `WWW-Authenticate` and `DPoP-Nonce` always exposed (RFC 9449 §7.1, §8, §9).
 *
 * @example
 * ```yaml
 * cors:
 *   origins: [https://app.example.com]
 *   allowHeaders: [Content-Type]
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export interface CorsInput {
  /** Exact origins allowed to call (`https://app.example.com`), or `['*']` for any. */
  origins: string[]
  /** Request headers allowed besides `Authorization` and `DPoP` (default `[Content-Type]`). */
  allowHeaders?: string[]
  /** Response headers exposed besides `WWW-Authenticate` and `DPoP-Nonce` (default none). */
  exposeHeaders?: string[]
  /** How long a browser may cache a preflight answer (default 600, at most 86400). */
  maxAgeSeconds?: number
  /** Allow cookies with the calls (`Access-Control-Allow-Credentials`); default `false`. */
  credentials?: boolean
}

/**
 * The configuration file, before defaults and environment variables are applied.
 *
 * @example
 * ```ts
 * const input: GatewayConfigInput = {
 *   publicBaseUrl: 'https://api.example.com',
 *   upstream: { url: 'http://127.0.0.1:3000' },
 *   tokens: { jwt: { issuer: 'https://as.example.com', audience: 'https://api.example.com', jwksUri: 'https://as.example.com/jwks' } },
 *   routes: [{ prefix: '/', scopes: ['api'] }],
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface GatewayConfigInput {
  listen?: { host?: string; port?: number }
  publicBaseUrl: string
  trustProxy?: boolean
  /** Where accepted requests go; optional for the verify service, which forwards nothing. */
  upstream?: { url: string; timeoutMs?: number; connections?: number }
  tokens:
    | {
        jwt: {
          issuer: string
          audience: string | string[]
          /** Left out: found through the issuer's RFC 8414 or OpenID Connect metadata. */
          jwksUri?: string
          /** The identity provider's token shape (see docs/identity-providers.md); default `rfc9068`. */
          profile?: ProfileName
        }
      }
    | {
        introspection: {
          /** The identity provider's answer shape; default `rfc9068`. */
          profile?: ProfileName
          endpoint: string
          clientId: string
          /** Name of the environment variable holding the client secret. */
          clientSecretEnv: string
          /** This API's identifier(s); the token's `aud` must contain one. */
          audience: string | string[]
        }
      }
  replay?: 'memory' | { memory: { maxEntries?: number } } | { redis: RedisReplayInput }
  nonces?: 'off' | false | { secretEnv: string; stepSeconds?: number }
  routes: RouteConfigInput[]
  /** CORS for every route that does not set its own (default: none). */
  cors?: CorsInput | false
  paths?: PathsInput
  identityHeaders?: { subject?: string; clientId?: string; scope?: string; jkt?: string }
  forwardAuthorization?: 'strip' | 'keep'
  requestHeaders?: RequestHeadersInput
  limits?: { bodyBytes?: number; headerBytes?: number; requestTimeoutMs?: number }
  admin?: AdminInput
  shutdownTimeoutMs?: number
  allowBearer?: boolean
  algorithms?: string[]
  log?: { level?: string }
  /** Settings of the verify service (`keybound authz`) only. */
  verify?: VerifyInput
  /** Publish RFC 9728 protected-resource metadata and name it in every challenge. */
  resourceMetadata?: ResourceMetadataInput
}

/**
 * The gateway's protected-resource metadata (RFC 9728), served at
 * `/.well-known/oauth-protected-resource` plus the resource's path, and named in every
 * challenge as `resource_metadata` (RFC 9728 §5.1).
 *
 * @example
 * ```yaml
 * resourceMetadata:
 *   authorizationServers: [https://as.example.com]
 *   scopesSupported: [items:read, items:write]
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export interface ResourceMetadataInput {
  /** The resource identifier (default `publicBaseUrl`). */
  resource?: string
  /** Issuers whose tokens are accepted (default: `tokens.jwt.issuer`; required with introspection). */
  authorizationServers?: string[]
  /** Scopes a client may ask for. */
  scopesSupported?: string[]
  /** A human-readable name. */
  resourceName?: string
  /** A page with developer documentation. */
  resourceDocumentation?: string
}

/** How request paths are read before routes are matched. */
export interface PathsInput {
  /**
   * A `;` in a path segment, raw or as `%3B` (servlet path parameters such as
   * `;jsessionid=1`): `refuse` (default) answers 400; `strip` matches each segment on its part
   * before the `;` (how Tomcat, Jetty and Spring read it) and forwards the path unchanged.
   */
  semicolons?: 'refuse' | 'strip'
}

/**
 * What happens to request headers a client could use to speak for the gateway or to redirect
 * the upstream. CGI-style upstreams (WSGI, Rack, PHP) read `_` in a header name as `-`.
 */
export interface RequestHeadersInput {
  /**
   * `drop-reserved` (default): drop a header whose name, with `_` read as `-`, is an identity,
   * forwarding, hop-by-hop or override header. `drop-all`: drop every name containing `_`.
   */
  underscores?: 'drop-reserved' | 'drop-all'
  /**
   * `strip` (default) removes `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`,
   * `X-Original-URL`, `X-Rewrite-URL` and `X-Forwarded-Prefix`; `keep` forwards them.
   */
  overrides?: 'strip' | 'keep'
}

/**
 * The gateway's own endpoints: `<pathPrefix>/healthz` and `<pathPrefix>/metrics`. Metrics tell
 * an outsider about traffic, refusals and the process, so they are off the public listener
 * unless `publicMetrics` says otherwise.
 */
export interface AdminInput {
  /** Where the endpoints live (default `/_keybound`); no request under it is forwarded. */
  pathPrefix?: string
  /** Serve Prometheus metrics at all (default `true`). */
  metrics?: boolean
  /**
   * A second listener for health and metrics (default: none), e.g. `{ port: 9464 }`; its
   * host defaults to `127.0.0.1`.
   */
  listen?: { host?: string; port?: number }
  /** Also serve metrics on the public listener (default `false`). */
  publicMetrics?: boolean
}

/** Where the Redis replay store connects: `url`, or the name of a variable holding it. */
export interface RedisReplayInput {
  url?: string
  urlEnv?: string
  keyPrefix?: string
}

/** A route after validation. */
export interface RouteConfig {
  /** The pattern as written (for logs and metrics). */
  readonly pattern: string
  /** Literal segments, `:name`, or a final `*`. */
  readonly segments: readonly string[]
  /** Upper-case methods, or `undefined` for any. */
  readonly methods?: readonly string[]
  readonly scopes: readonly string[]
  readonly public: boolean
  /** The route's CORS policy, when browsers on other origins may call it. */
  readonly cors?: CorsPolicy
}

/**
 * The validated configuration with every default applied and every secret resolved.
 *
 * @example
 * ```ts
 * const config: GatewayConfig = resolveGatewayConfig(parseYaml(text))
 * console.log(config.upstream.timeoutMs) // 30000 unless the file says otherwise
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface GatewayConfig {
  readonly listen: { readonly host: string; readonly port: number }
  readonly publicBaseUrl: string
  readonly trustProxy: boolean
  readonly upstream: { readonly url: URL; readonly timeoutMs: number; readonly connections: number }
  readonly tokens:
    | {
        readonly kind: 'jwt'
        readonly issuer: string
        readonly audience: string | string[]
        readonly jwksUri?: string
        readonly profile: ProfileName
      }
    | {
        readonly kind: 'introspection'
        readonly profile: ProfileName
        readonly endpoint: string
        readonly clientId: string
        readonly clientSecret: string
        readonly audience: string | string[]
      }
  readonly replay:
    | { readonly kind: 'memory'; readonly maxEntries?: number }
    | { readonly kind: 'redis'; readonly url: string; readonly keyPrefix?: string }
  readonly nonces: false | { readonly secret: string; readonly stepSeconds: number }
  readonly routes: readonly RouteConfig[]
  readonly paths: { readonly semicolons: 'refuse' | 'strip' }
  readonly identityHeaders: {
    readonly subject: string
    readonly clientId: string
    readonly scope: string
    readonly jkt: string
  }
  readonly forwardAuthorization: 'strip' | 'keep'
  readonly requestHeaders: {
    readonly underscores: 'drop-reserved' | 'drop-all'
    readonly overrides: 'strip' | 'keep'
  }
  readonly limits: {
    readonly bodyBytes: number
    readonly headerBytes: number
    readonly requestTimeoutMs: number
  }
  readonly admin: {
    readonly pathPrefix: string
    readonly metrics: boolean
    /** The admin listener, when there is one. */
    readonly listen?: { readonly host: string; readonly port: number }
    readonly publicMetrics: boolean
  }
  readonly shutdownTimeoutMs: number
  readonly allowBearer: boolean
  readonly algorithms?: readonly string[]
  readonly log: { readonly level: string }
  readonly verify: VerifyConfig
  /** The built metadata document, when `resourceMetadata` is configured. */
  readonly resourceMetadata?: ProtectedResourceMetadata
}

/**
 * Who reads a config: the `gateway` (default) needs an `upstream`; the `verify` service
 * (`keybound authz`) answers a proxy's checks and forwards nothing, so it does not.
 */
export interface ConfigUse {
  mode?: 'gateway' | 'verify'
}

/**
 * Stable codes of the errors thrown by `@keybound/gateway`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export type GatewayErrorCode = 'ERR_DPOP_GATEWAY_CONFIG_INVALID'

/**
 * Thrown when the configuration is invalid. `issues` lists every bad field by its path
 * (`upstream.url: …`, `routes[2].methods: …`), so one run shows everything to fix.
 *
 * @example
 * ```ts
 * try { resolveGatewayConfig(input) } catch (error) {
 *   if (error instanceof GatewayConfigError) console.error(error.issues.join('\n'))
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export class GatewayConfigError extends ConfigInvalid {
  /** The stable code of this error class. */
  static code: GatewayErrorCode = 'ERR_DPOP_GATEWAY_CONFIG_INVALID'
  /** The stable code of this error. */
  declare readonly code: GatewayErrorCode
  constructor(issues: readonly string[], source?: string) {
    super(
      `gateway config${source === undefined ? '' : ` (${source})`}`,
      issues,
      source === undefined ? undefined : { source },
    )
  }
}

/** Default names of the identity headers sent to the upstream. */
export const DEFAULT_IDENTITY_HEADERS = {
  subject: 'x-keybound-subject',
  clientId: 'x-keybound-client-id',
  scope: 'x-keybound-scope',
  jkt: 'x-keybound-jkt',
} as const

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  timeoutMs: 30_000,
  connections: 128,
  bodyBytes: 10 * 1024 * 1024,
  headerBytes: 16 * 1024,
  requestTimeoutMs: 60_000,
  adminPrefix: '/_keybound',
  adminPort: 9464,
  shutdownTimeoutMs: 10_000,
  stepSeconds: 60,
  logLevel: 'info',
  corsMaxAgeSeconds: 600,
} as const

// RFC 9110 §5.1 field-name (token) and §9.1 method (token).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const HEADER_NAMES: StringListRule = {
  nonEmpty: true,
  accepts: TOKEN,
  problem: 'must be a header name (RFC 9110 §5.1)',
}
const METHODS: StringListRule = {
  nonEmpty: true,
  accepts: TOKEN,
  problem: 'must be a method name (RFC 9110 §9.1)',
}
const SCOPES: StringListRule = {
  nonEmpty: true,
  accepts: NQCHAR_TOKEN,
  problem: 'must be a scope token (RFC 6749 §3.3)',
}
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
// Identity headers must not collide with what the gateway itself reads or forwards.
const RESERVED_HEADERS = new Set([
  'authorization',
  'dpop',
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'cookie',
])

/**
 * Compiles a route pattern into segments, or reports why it cannot be one.
 * @example
 * ```ts
 * compilePattern('/items/:id') // ['items', ':id']
 * compilePattern('/files/*')   // ['files', '*']
 * ```
 */
function compilePattern(pattern: string): string[] | string {
  if (!pattern.startsWith('/')) return 'must start with /'
  if (pattern === '/') return ['']
  const segments = pattern.slice(1).split('/')
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    if (segment === '*' && i !== segments.length - 1) return 'may only end with /*'
    if (segment === '' && i !== segments.length - 1) return 'must not contain empty segments'
    if (segment === '.' || segment === '..') return 'must not contain dot segments'
    if (/[?#%\\]/.test(segment)) return 'must be a plain, decoded path (no ?, #, % or \\)'
    if (segment.startsWith(':') && segment.length === 1) return 'has a parameter without a name'
  }
  return segments
}

/** A browser's serialized origin: scheme, host and non-default port, lower case, no path. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value
  } catch {
    return false
  }
}

function checkCors(checker: Checker, value: unknown, path: string): CorsPolicy | undefined {
  const cors = checker.object(value, path)
  if (cors === undefined) return undefined
  const origins =
    cors.origins === undefined
      ? checker.fail(`${path}.origins`, 'is required')
      : checker.strings(cors.origins, `${path}.origins`, { nonEmpty: true })
  const anyOrigin = origins?.includes('*') === true
  if (anyOrigin && origins!.length > 1)
    checker.fail(`${path}.origins`, '"*" must be the only entry')
  origins?.forEach((origin, index) => {
    if (origin !== '*' && !isOrigin(origin))
      checker.fail(
        `${path}.origins[${index}]`,
        'must be an origin such as https://app.example.com (lower case, no path, no default port)',
      )
  })
  const extraRequest = checker.strings(cors.allowHeaders, `${path}.allowHeaders`, HEADER_NAMES) ?? [
    'Content-Type',
  ]
  const extraExposed =
    checker.strings(cors.exposeHeaders, `${path}.exposeHeaders`, HEADER_NAMES) ?? []
  const maxAgeSeconds = checker.integer(
    cors.maxAgeSeconds,
    `${path}.maxAgeSeconds`,
    DEFAULTS.corsMaxAgeSeconds,
    0,
    86_400,
  )
  const credentials = checker.boolean(cors.credentials, `${path}.credentials`, false)
  // A wildcard with credentials would let every site act with the user's cookies.
  if (credentials && anyOrigin)
    checker.fail(`${path}.credentials`, 'cannot be true with origins ["*"]')
  const allowHeaders = uniqueNames([...DPOP_REQUEST_HEADERS, ...extraRequest])
  return {
    origins: new Set(anyOrigin ? [] : (origins ?? [])),
    anyOrigin,
    allowHeaders: new Set(allowHeaders.map((name) => name.toLowerCase())),
    allowHeadersValue: allowHeaders.join(', '),
    exposeHeadersValue: uniqueNames([...DPOP_EXPOSED_HEADERS, ...extraExposed]).join(', '),
    maxAgeSeconds,
    credentials,
  }
}

/** Header names without repeats, compared case-insensitively, first spelling kept. */
function uniqueNames(names: readonly string[]): string[] {
  const seen = new Set<string>()
  return names.filter((name) => {
    const key = name.toLowerCase()
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function checkRoute(
  checker: Checker,
  value: unknown,
  path: string,
  defaultCors: CorsPolicy | undefined,
): RouteConfig | undefined {
  const route = checker.object(value, path)
  if (route === undefined) return undefined
  if (!checker.exactlyOne(route, path, ['path', 'prefix'])) return undefined
  const hasPath = route.path !== undefined
  const written = checker.required(
    hasPath ? route.path : route.prefix,
    `${path}.${hasPath ? 'path' : 'prefix'}`,
  )
  if (written === undefined) return undefined
  const pattern = hasPath ? written : `${written.replace(/\/+$/, '')}/*`
  const segments = compilePattern(pattern)
  if (typeof segments === 'string')
    return checker.fail(`${path}.${hasPath ? 'path' : 'prefix'}`, segments)
  const methods = checker.strings(route.methods, `${path}.methods`, METHODS)
  const scopes = checker.strings(route.scopes, `${path}.scopes`, SCOPES)
  const isPublic = checker.boolean(route.public, `${path}.public`, false)
  if (isPublic && scopes !== undefined)
    checker.fail(`${path}.scopes`, 'a public route cannot require scopes')
  const upper = methods?.map((method) => method.toUpperCase())
  // HEAD is GET without a body (RFC 9110 §9.3.2): allowing GET allows HEAD.
  if (upper !== undefined && upper.includes('GET') && !upper.includes('HEAD')) upper.push('HEAD')
  const cors =
    route.cors === undefined
      ? defaultCors
      : route.cors === false
        ? undefined
        : checkCors(checker, route.cors, `${path}.cors`)
  return {
    pattern: written,
    segments,
    ...(upper === undefined ? {} : { methods: upper }),
    scopes: scopes ?? [],
    public: isPublic,
    ...(cors === undefined ? {} : { cors }),
  }
}

// One audience, or a non-empty list of them (a token's `aud` must contain one).
function checkAudience(
  checker: Checker,
  value: unknown,
  path: string,
): string | string[] | undefined {
  return Array.isArray(value)
    ? checker.strings(value, path, { nonEmpty: true })
    : checker.required(value, path)
}

function checkTokens(
  checker: Checker,
  value: unknown,
  env: NodeJS.ProcessEnv,
): GatewayConfig['tokens'] | undefined {
  const tokens = checker.object(value, 'tokens')
  if (tokens === undefined) return undefined
  if (!checker.exactlyOne(tokens, 'tokens', ['jwt', 'introspection'])) return undefined
  if (tokens.jwt !== undefined) {
    const jwt = checker.object(tokens.jwt, 'tokens.jwt')
    if (jwt === undefined) return undefined
    const issuer = checker.required(jwt.issuer, 'tokens.jwt.issuer')
    const audience = checkAudience(checker, jwt.audience, 'tokens.jwt.audience')
    const profile = checker.oneOf(jwt.profile, 'tokens.jwt.profile', PROFILE_NAMES, 'rfc9068')
    // Without jwksUri the validator discovers the keys from the issuer's metadata.
    const jwksUri =
      jwt.jwksUri === undefined
        ? undefined
        : checker.url(jwt.jwksUri, 'tokens.jwt.jwksUri', URL_RULES.http)
    if (issuer === undefined || audience === undefined) return undefined
    if (jwt.jwksUri !== undefined && jwksUri === undefined) return undefined
    return { kind: 'jwt', issuer, audience, profile, ...(jwksUri === undefined ? {} : { jwksUri }) }
  }
  const introspection = checker.object(tokens.introspection, 'tokens.introspection')
  if (introspection === undefined) return undefined
  const endpoint = checker.url(
    introspection.endpoint,
    'tokens.introspection.endpoint',
    URL_RULES.http,
  )
  const profile = checker.oneOf(
    introspection.profile,
    'tokens.introspection.profile',
    PROFILE_NAMES,
    'rfc9068',
  )
  // Auth0 and Entra ID have no introspection endpoint: their profiles cannot describe one.
  if (!builtInProfile(profile).introspection)
    checker.fail('tokens.introspection.profile', `"${profile}" tokens cannot be introspected`)
  const clientId = checker.required(introspection.clientId, 'tokens.introspection.clientId')
  const clientSecret = checker.variable(
    env,
    introspection.clientSecretEnv,
    'tokens.introspection.clientSecretEnv',
  )
  const audience = checkAudience(checker, introspection.audience, 'tokens.introspection.audience')
  if (
    endpoint === undefined ||
    clientId === undefined ||
    clientSecret === undefined ||
    audience === undefined
  )
    return undefined
  return { kind: 'introspection', profile, endpoint, clientId, clientSecret, audience }
}

function checkReplay(
  checker: Checker,
  value: unknown,
  env: NodeJS.ProcessEnv,
): GatewayConfig['replay'] {
  if (value === undefined || value === 'memory') return { kind: 'memory' }
  const replay = checker.object(value, 'replay')
  if (replay === undefined) return { kind: 'memory' }
  if ((replay.memory === undefined) === (replay.redis === undefined)) {
    checker.fail('replay', 'must be "memory", { memory: {...} } or { redis: {...} }')
    return { kind: 'memory' }
  }
  if (replay.memory !== undefined) {
    const memory = checker.object(replay.memory, 'replay.memory') ?? {}
    const maxEntries =
      memory.maxEntries === undefined
        ? undefined
        : checker.integer(memory.maxEntries, 'replay.memory.maxEntries', 0, 1, 1e9)
    return maxEntries === undefined ? { kind: 'memory' } : { kind: 'memory', maxEntries }
  }
  const redis = checker.object(replay.redis, 'replay.redis') ?? {}
  checker.exactlyOne(redis, 'replay.redis', ['url', 'urlEnv'])
  const url =
    redis.url !== undefined
      ? checker.url(redis.url, 'replay.redis.url', URL_RULES.redis)
      : checker.variable(env, redis.urlEnv, 'replay.redis.urlEnv')
  const keyPrefix = checker.string(redis.keyPrefix, 'replay.redis.keyPrefix')
  return { kind: 'redis', url: url ?? '', ...(keyPrefix === undefined ? {} : { keyPrefix }) }
}

function checkNonces(
  checker: Checker,
  value: unknown,
  env: NodeJS.ProcessEnv,
): GatewayConfig['nonces'] {
  if (value === undefined || value === 'off' || value === false) return false
  const nonces = checker.object(value, 'nonces')
  if (nonces === undefined) return false
  const secret = checker.variable(env, nonces.secretEnv, 'nonces.secretEnv', 32)
  const stepSeconds = checker.seconds(
    nonces.stepSeconds,
    'nonces.stepSeconds',
    DEFAULTS.stepSeconds,
    86_400,
  )
  return { secret: secret ?? '', stepSeconds }
}

function checkHeaderName(checker: Checker, value: unknown, path: string, fallback: string): string {
  if (value === undefined) return fallback
  const name = checker.required(value, path)
  if (name === undefined) return fallback
  // CGI-style upstreams read `_` as `-`: `x_forwarded_for` would be their X-Forwarded-For.
  const read = readAsCgi(name)
  if (!TOKEN.test(name)) checker.fail(path, 'must be a valid header name')
  else if (RESERVED_HEADERS.has(read) || read.startsWith('x-forwarded-'))
    checker.fail(path, `must not be ${name}: the gateway reads or sets that header itself`)
  else if (OVERRIDE_HEADERS.includes(read))
    checker.fail(path, `must not be ${name}: upstreams read it as a method or path override`)
  return name.toLowerCase()
}

/** A header name as a CGI, WSGI or Rack upstream reads it: lower case, `_` as `-`. */
function readAsCgi(name: string): string {
  return name.toLowerCase().replace(/_/g, '-')
}

function checkIdentityHeaders(checker: Checker, value: unknown): GatewayConfig['identityHeaders'] {
  const headers = checker.optionalObject(value, 'identityHeaders')
  const names = {
    subject: checkHeaderName(
      checker,
      headers.subject,
      'identityHeaders.subject',
      DEFAULT_IDENTITY_HEADERS.subject,
    ),
    clientId: checkHeaderName(
      checker,
      headers.clientId,
      'identityHeaders.clientId',
      DEFAULT_IDENTITY_HEADERS.clientId,
    ),
    scope: checkHeaderName(
      checker,
      headers.scope,
      'identityHeaders.scope',
      DEFAULT_IDENTITY_HEADERS.scope,
    ),
    jkt: checkHeaderName(checker, headers.jkt, 'identityHeaders.jkt', DEFAULT_IDENTITY_HEADERS.jkt),
  }
  if (new Set(Object.values(names).map(readAsCgi)).size !== 4)
    checker.fail('identityHeaders', 'header names must differ, also with `_` read as `-`')
  return names
}

function checkRequestHeaders(checker: Checker, value: unknown): GatewayConfig['requestHeaders'] {
  const headers = checker.optionalObject(value, 'requestHeaders')
  return {
    underscores: checker.oneOf(
      headers.underscores,
      'requestHeaders.underscores',
      ['drop-reserved', 'drop-all'],
      'drop-reserved',
    ),
    overrides: checker.oneOf(
      headers.overrides,
      'requestHeaders.overrides',
      ['strip', 'keep'],
      'strip',
    ),
  }
}

function checkListen(checker: Checker, value: unknown, path: string, port: number) {
  const listen = checker.optionalObject(value, path)
  return {
    host: checker.string(listen.host, `${path}.host`) ?? DEFAULTS.host,
    port: checker.integer(listen.port, `${path}.port`, port, 0, 65_535),
  }
}

function checkAdmin(
  checker: Checker,
  value: unknown,
  listen: GatewayConfig['listen'],
): GatewayConfig['admin'] {
  const admin = checker.optionalObject(value, 'admin')
  const metrics = checker.boolean(admin.metrics, 'admin.metrics', true)
  const publicMetrics = checker.boolean(admin.publicMetrics, 'admin.publicMetrics', false)
  if (publicMetrics && !metrics)
    checker.fail('admin.publicMetrics', 'cannot be true while admin.metrics is false')
  const adminListen =
    admin.listen === undefined
      ? undefined
      : checkListen(checker, admin.listen, 'admin.listen', DEFAULTS.adminPort)
  if (adminListen !== undefined && adminListen.port !== 0 && adminListen.port === listen.port)
    checker.fail('admin.listen.port', 'must differ from listen.port')
  return {
    pathPrefix: checkPrefix(checker, admin.pathPrefix),
    metrics,
    ...(adminListen === undefined ? {} : { listen: adminListen }),
    publicMetrics,
  }
}

function checkPrefix(checker: Checker, value: unknown): string {
  if (value === undefined) return DEFAULTS.adminPrefix
  const prefix = checker.required(value, 'admin.pathPrefix')
  if (prefix === undefined) return DEFAULTS.adminPrefix
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(prefix) || prefix.includes('//'))
    checker.fail('admin.pathPrefix', 'must be a plain path such as /_keybound')
  return prefix.replace(/\/+$/, '')
}

/**
 * Validates a configuration (as parsed from YAML or JSON), applies the defaults and reads the
 * secrets from `env`. Throws {@link GatewayConfigError} naming every bad field.
 *
 * @example
 * ```ts
 * const config = resolveGatewayConfig(JSON.parse(text), process.env)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function resolveGatewayConfig(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
  source?: string,
  use: ConfigUse = {},
): GatewayConfig {
  const checker = new Checker()
  const substituted = substituteReferences(input, env)
  const root = checker.object(substituted.document, '(root)')
  if (root === undefined) throw new GatewayConfigError(checker.issues, source)
  // Unknown members at any depth, named before the values are judged (ADR 0046).
  checker.issues.push(...findUnknownKeys(GATEWAY_SHAPE, root))

  const listen = checkListen(checker, root.listen, 'listen', DEFAULTS.port)

  const publicBaseUrl = checker.url(root.publicBaseUrl, 'publicBaseUrl', URL_RULES.http)
  const trustProxy = checker.boolean(root.trustProxy, 'trustProxy', false)

  const upstreamRequired = use.mode !== 'verify'
  const upstream = upstreamRequired
    ? (checker.object(root.upstream, 'upstream') ?? {})
    : checker.optionalObject(root.upstream, 'upstream')
  const upstreamUrl =
    upstreamRequired || upstream.url !== undefined
      ? checker.url(upstream.url, 'upstream.url', URL_RULES.upstream)
      : undefined
  const timeoutMs = checker.integer(
    upstream.timeoutMs,
    'upstream.timeoutMs',
    DEFAULTS.timeoutMs,
    1,
    3_600_000,
  )
  const connections = checker.integer(
    upstream.connections,
    'upstream.connections',
    DEFAULTS.connections,
    1,
    65_536,
  )

  const tokens = checkTokens(checker, root.tokens, env)
  const replay = checkReplay(checker, root.replay, env)
  const nonces = checkNonces(checker, root.nonces, env)

  const defaultCors = root.cors === undefined ? undefined : checkCors(checker, root.cors, 'cors')
  const routes: RouteConfig[] = []
  if (!Array.isArray(root.routes) || root.routes.length === 0) {
    checker.fail('routes', 'must be a non-empty list (requests matching no route get 404)')
  } else {
    root.routes.forEach((value, index) => {
      const route = checkRoute(checker, value, `routes[${index}]`, defaultCors)
      if (route !== undefined) routes.push(route)
    })
  }

  const paths = checker.optionalObject(root.paths, 'paths')
  const semicolons = checker.oneOf(
    paths.semicolons,
    'paths.semicolons',
    ['refuse', 'strip'],
    'refuse',
  )
  const identityHeaders = checkIdentityHeaders(checker, root.identityHeaders)
  const forwardAuthorization = checker.oneOf(
    root.forwardAuthorization,
    'forwardAuthorization',
    ['strip', 'keep'],
    'strip',
  )
  const requestHeaders = checkRequestHeaders(checker, root.requestHeaders)

  const limits = checker.optionalObject(root.limits, 'limits')
  const log = checker.optionalObject(root.log, 'log')
  const level = checker.oneOf(log.level, 'log.level', LOG_LEVELS, DEFAULTS.logLevel)

  const config = {
    listen,
    publicBaseUrl: publicBaseUrl ?? '',
    trustProxy,
    upstream: { url: new URL(upstreamUrl ?? 'http://invalid'), timeoutMs, connections },
    tokens: tokens!,
    replay,
    nonces,
    routes,
    paths: { semicolons },
    identityHeaders,
    forwardAuthorization,
    requestHeaders,
    limits: {
      bodyBytes: checker.integer(
        limits.bodyBytes,
        'limits.bodyBytes',
        DEFAULTS.bodyBytes,
        0,
        2 ** 50,
      ),
      headerBytes: checker.integer(
        limits.headerBytes,
        'limits.headerBytes',
        DEFAULTS.headerBytes,
        1024,
        1 << 24,
      ),
      requestTimeoutMs: checker.integer(
        limits.requestTimeoutMs,
        'limits.requestTimeoutMs',
        DEFAULTS.requestTimeoutMs,
        0,
        3_600_000,
      ),
    },
    admin: checkAdmin(checker, root.admin, listen),
    shutdownTimeoutMs: checker.integer(
      root.shutdownTimeoutMs,
      'shutdownTimeoutMs',
      DEFAULTS.shutdownTimeoutMs,
      0,
      3_600_000,
    ),
    allowBearer: checker.boolean(root.allowBearer, 'allowBearer', false),
    ...(root.algorithms === undefined
      ? {}
      : { algorithms: checker.strings(root.algorithms, 'algorithms', { nonEmpty: true }) ?? [] }),
    log: { level },
    verify: checkVerify(checker, root.verify),
  }
  const resourceMetadata =
    root.resourceMetadata === undefined
      ? undefined
      : checkResourceMetadata(checker, root.resourceMetadata, config)
  const problems = [
    ...substituted.unset.map(describeUnset),
    ...checker.issues.filter((issue) => !followsFromUnset(issue, substituted.unset)),
  ]
  if (problems.length > 0) throw new GatewayConfigError(problems, source)
  return resourceMetadata === undefined ? config : { ...config, resourceMetadata }
}

/**
 * Builds the RFC 9728 document from `resourceMetadata` and what the rest of the config says:
 * the JWT issuer is the default authorization server, the proof algorithms are the gateway's,
 * and DPoP-bound tokens are required unless Bearer tokens are allowed. The builder's problems
 * are reported under `resourceMetadata.<field>`.
 */
function checkResourceMetadata(
  checker: Checker,
  value: unknown,
  config: Pick<GatewayConfig, 'publicBaseUrl' | 'tokens' | 'allowBearer' | 'algorithms'>,
): ProtectedResourceMetadata | undefined {
  const input = checker.object(value, 'resourceMetadata')
  if (input === undefined) return undefined
  const issuer = config.tokens?.kind === 'jwt' ? config.tokens.issuer : undefined
  const authorizationServers =
    input.authorizationServers ?? (issuer === undefined ? undefined : [issuer])
  if (authorizationServers === undefined)
    return checker.fail(
      'resourceMetadata.authorizationServers',
      'is required when tokens are introspected',
    )
  try {
    return createProtectedResourceMetadata({
      resource: (input.resource ?? config.publicBaseUrl) as string,
      authorizationServers: authorizationServers as string[],
      dpopBoundAccessTokensRequired: !config.allowBearer,
      ...(config.algorithms === undefined
        ? {}
        : { dpopSigningAlgValuesSupported: config.algorithms }),
      ...(input.scopesSupported === undefined
        ? {}
        : { scopesSupported: input.scopesSupported as string[] }),
      ...(input.resourceName === undefined ? {} : { resourceName: input.resourceName as string }),
      ...(input.resourceDocumentation === undefined
        ? {}
        : { resourceDocumentation: input.resourceDocumentation as string }),
      // The gateway's own rule for plain http applies (publicBaseUrl is checked elsewhere).
      allowInsecureHttp: true,
    })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    for (const problem of message.replace(/^protected-resource metadata: /, '').split('; ')) {
      const [path, ...rest] = problem.split(' ')
      checker.fail(`resourceMetadata.${path}`, rest.join(' '))
    }
    return undefined
  }
}

/**
 * Reads a YAML (`.yaml`, `.yml`) or JSON (`.json`) config file and resolves it.
 *
 * @example
 * ```ts
 * const config = await loadGatewayConfig('gateway.yaml')
 * const gateway = createGateway(config)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export async function loadGatewayConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  use: ConfigUse = {},
): Promise<GatewayConfig> {
  const text = await readFile(file, 'utf8')
  let parsed: unknown
  try {
    // YAML 1.2 is a superset of JSON, but JSON files get JSON's stricter errors.
    // logLevel 'error': a YAML warning (such as an unknown tag) must not go to the process log.
    parsed =
      extname(file).toLowerCase() === '.json'
        ? JSON.parse(text)
        : parseYaml(text, { uniqueKeys: true, logLevel: 'error' })
  } catch (error) {
    throw new GatewayConfigError([describeUnparsable(error)], file)
  }
  return resolveGatewayConfig(parsed, env, file, use)
}
