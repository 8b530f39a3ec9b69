/**
 * The shape of the authorization server's config file: every member at every depth, its JSON
 * type and its simple bounds. `resolveConfig` refuses any member this shape does not name, and
 * `schema/authorization-server.schema.json` is written from it, so the loader and the
 * published JSON Schema cannot disagree about which settings exist. Value rules that need code
 * (URL schemes, cross-field rules, password hashes) stay in `config.ts`.
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @packageDocumentation
 */
import { SUPPORTED_ALGORITHMS } from '@keybound/core'
import { shape, toJsonSchema, type JsonSchema, type Shape } from '@keybound/config-kit'
import { AUTH_METHODS, GRANT_TYPES } from '../clients/metadata.js'
import type { SigningAlgorithm } from '../config.js'
import { MAX_SCRYPT_LOG_N, MIN_SCRYPT_LOG_N } from '../users/passwords.js'
import { PROFILES } from '../profiles/fapi2.js'

const DAY = 86400
const YEAR = 366 * DAY
/** Algorithms this server signs access tokens with. */
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = [
  'ES256',
  'ES384',
  'PS256',
  'RS256',
  'EdDSA',
]
const TOKEN_FORMATS = ['jwt', 'opaque']

const seconds = (maximum: number, description?: string): Shape =>
  shape.integer({ minimum: 1, maximum, ...(description === undefined ? {} : { description }) })
const strings = (description?: string): Shape =>
  shape.array(shape.string(), description === undefined ? {} : { description })
const rateLimit = (description: string): Shape =>
  shape.object(
    {
      max: shape.integer({ minimum: 1, maximum: 1_000_000_000 }),
      windowSeconds: seconds(DAY),
    },
    { description },
  )

// A JWK's members belong to RFC 7517 and the algorithm specifications, not to this file.
const jwks = shape.object(
  { keys: shape.array(shape.object({}, { extra: true }), { minItems: 1 }) },
  { required: ['keys'], description: 'Public keys (RFC 7517 JWK Set).' },
)

/**
 * One client's metadata in the config file: the RFC 7591 §2 names this server understands plus
 * its own (`first_party`, `bearer_access_tokens`, `audience`, `resource_server`, `profile`).
 * At `/register` the same names are read, but unknown members are ignored (RFC 7591 §2).
 * @example
 * ```ts
 * findUnknownKeys(CLIENT_SHAPE, { client_id: 'app', scopes: 'read' }, 'clients[0]')
 * // ['clients[0].scopes: is not a known setting']
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export const CLIENT_SHAPE = shape.object(
  {
    client_id: shape.string({ description: '1 to 255 visible ASCII characters.' }),
    client_secret: shape.string({ description: 'At least 16 characters; use ${VAR}.' }),
    token_endpoint_auth_method: shape.oneOf(AUTH_METHODS),
    redirect_uris: strings('https, or http on a loopback host.'),
    grant_types: shape.array(shape.oneOf(GRANT_TYPES), { minItems: 1 }),
    scope: shape.string({ description: 'Space-separated scope tokens (RFC 6749 §3.3).' }),
    dpop_bound_access_tokens: shape.boolean('RFC 9449 §5.2: token requests need a proof.'),
    access_token_format: shape.oneOf(TOKEN_FORMATS),
    bearer_access_tokens: shape.boolean(),
    first_party: shape.boolean('Skip the consent screen.'),
    jwks,
    require_pushed_authorization_requests: shape.boolean('RFC 9126 §6.'),
    client_name: shape.string(),
    audience: shape.string(),
    resource_server: shape.union([shape.boolean(), shape.array(shape.string(), { minItems: 1 })]),
    profile: shape.oneOf(PROFILES),
  },
  { required: ['client_id'] },
)

const TOKEN_EXCHANGE_SHAPE = shape.object(
  {
    audiences: strings(),
    delegation: shape.array(
      shape.object(
        {
          actor: shape.string(),
          subjectClients: strings(),
          audiences: strings(),
          scope: shape.string(),
        },
        { required: ['actor', 'subjectClients', 'audiences'] },
      ),
    ),
    maxActDepth: shape.integer({ minimum: 1, maximum: 8 }),
    trustedIssuers: shape.array(
      shape.object(
        {
          issuer: shape.string(),
          jwksUri: shape.string(),
          jwks,
          audience: shape.string(),
          algorithms: shape.array(shape.oneOf(SIGNING_ALGORITHMS)),
          subjectPrefix: shape.string(),
        },
        { required: ['issuer'] },
      ),
    ),
  },
  { description: 'Token exchange (RFC 8693).' },
)

/**
 * The whole authorization-server config file.
 * @example
 * ```ts
 * findUnknownKeys(AUTHORIZATION_SERVER_SHAPE, { accessTokens: { lifetme: 60 } })
 * // ['accessTokens.lifetme: is not a known setting']
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export const AUTHORIZATION_SERVER_SHAPE = shape.object({
  issuer: shape.string({ description: 'https URL without query or fragment.' }),
  profile: shape.oneOf(PROFILES, 'A security profile every client runs under.'),
  authorizationResponse: shape.object({ iss: shape.boolean('RFC 9207 §2.') }),
  clients: shape.array(CLIENT_SHAPE),
  users: shape.array(
    shape.object(
      {
        username: shape.string(),
        passwordHash: shape.string({ description: 'Made by keybound-as hash-password.' }),
        subject: shape.string(),
      },
      { required: ['username', 'passwordHash'] },
    ),
  ),
  accessTokens: shape.object({
    lifetime: seconds(DAY),
    format: shape.oneOf(TOKEN_FORMATS),
    audience: shape.string(),
  }),
  resources: shape.array(
    shape.object(
      { identifier: shape.string(), accessTokenFormat: shape.oneOf(TOKEN_FORMATS) },
      { required: ['identifier'] },
    ),
  ),
  refreshTokens: shape.object({ lifetime: seconds(YEAR), absoluteLifetime: seconds(YEAR) }),
  authorizationCodes: shape.object({ lifetime: seconds(600) }),
  par: shape.object({ lifetime: seconds(600), required: shape.boolean() }),
  signing: shape.object({
    alg: shape.oneOf(SIGNING_ALGORITHMS),
    pkcs11: shape.object(
      {
        uri: shape.string({ description: 'RFC 7512 pkcs11: URI with object= and module-path=.' }),
        pinEnv: shape.string({ description: 'NAME of the variable holding the PIN.' }),
        poolSize: shape.integer({ minimum: 1, maximum: 64 }),
      },
      { required: ['uri', 'pinEnv'] },
    ),
  }),
  dpop: shape.object({
    algorithms: shape.array(shape.oneOf(SUPPORTED_ALGORITHMS), { minItems: 1 }),
    required: shape.boolean(),
    maxAge: seconds(3600),
    clockTolerance: seconds(600),
    nonce: shape.object({
      required: shape.boolean(),
      secret: shape.string({ description: 'At least 32 bytes; use ${VAR}.' }),
      stepSeconds: seconds(3600),
    }),
  }),
  registration: shape.object(
    {
      initialAccessToken: shape.string({ description: 'At least 16 characters; use ${VAR}.' }),
      allowedScopes: strings(),
      allowClientCredentials: shape.boolean(),
      trustedRedirectHosts: strings(),
    },
    { required: ['initialAccessToken'] },
  ),
  storage: shape.object({
    databaseUrl: shape.string({ description: 'postgres:// URL; SQLite when left out.' }),
    dataDir: shape.string(),
    schema: shape.string({ pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
    sweep: shape.object({
      intervalSeconds: shape.integer({ minimum: 0, maximum: DAY }),
      batchSize: shape.integer({ minimum: 1, maximum: 100_000 }),
      graceSeconds: shape.integer({ minimum: 0, maximum: DAY }),
    }),
  }),
  replay: shape.object({ redisUrl: shape.string(), keyPrefix: shape.string() }),
  lint: shape.object({ maxAccessTokenLifetimeWithoutNonce: seconds(YEAR) }),
  cors: shape.object({ allowedOrigins: strings() }),
  limits: shape.object({
    bodyBytes: shape.integer({ minimum: 1024, maximum: 1 << 24 }),
    headerBytes: shape.integer({ minimum: 1024, maximum: 1 << 20 }),
    requestTimeoutMs: shape.integer({ minimum: 100, maximum: 3_600_000 }),
    jsonDepth: shape.integer({ minimum: 2, maximum: 256 }),
  }),
  rateLimits: shape.object({
    enabled: shape.boolean(),
    token: rateLimit('/token requests per client.'),
    par: rateLimit('/par requests per client.'),
    authorize: rateLimit('GET /authorize requests per address.'),
    introspect: rateLimit('/introspect requests per client.'),
    login: rateLimit('Failed sign-ins per username.'),
    loginIp: rateLimit('Failed sign-ins per address.'),
    clientAuthFailures: rateLimit('Failed client authentications per client.'),
    clientAuthFailuresIp: rateLimit('Failed client authentications per address.'),
  }),
  metrics: shape.object({
    port: shape.integer({ minimum: 0, maximum: 65_535 }),
    host: shape.string(),
    onMainListener: shape.boolean(),
  }),
  trustProxy: strings('Addresses or CIDR ranges of trusted reverse proxies.'),
  passwords: shape.object({
    scryptLogN: shape.integer({ minimum: MIN_SCRYPT_LOG_N, maximum: MAX_SCRYPT_LOG_N }),
  }),
  tokenExchange: TOKEN_EXCHANGE_SHAPE,
})

/**
 * The JSON Schema of the config file, as published in `schema/authorization-server.schema.json`.
 * @example
 * ```ts
 * import { authorizationServerJsonSchema } from '@keybound/authorization-server'
 * const schema = authorizationServerJsonSchema()
 * ```
 * @see https://json-schema.org/draft-07/json-schema-core
 */
export function authorizationServerJsonSchema(): JsonSchema {
  return toJsonSchema(AUTHORIZATION_SERVER_SHAPE, {
    id: 'https://raw.githubusercontent.com/keybound/keybound/main/packages/authorization-server/schema/authorization-server.schema.json',
    title: 'Keybound authorization server configuration',
  })
}
