/**
 * The shape of the gateway's config file: every member at every depth and its JSON type.
 * `resolveGatewayConfig` refuses any member this shape does not name, and
 * `schema/gateway.schema.json` is written from it, so the loader and the published JSON Schema
 * cannot disagree about which settings exist (ADR 0046). Value rules that need code (URL
 * schemes, route patterns, header names, secrets) stay in `config.ts`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import { PROFILE_NAMES } from '@keybound/server'
import { shape, toJsonSchema, type JsonSchema, type Shape } from '@keybound/config-kit'

const strings = (description?: string): Shape =>
  shape.array(shape.string(), description === undefined ? {} : { description })
const audience = shape.union([shape.string(), strings()], "This API's identifier(s).")
const listen = (description: string): Shape =>
  shape.object(
    { host: shape.string(), port: shape.integer({ minimum: 0, maximum: 65_535 }) },
    { description },
  )
const cors = shape.union([
  shape.constant(false),
  shape.object(
    {
      origins: strings('Exact origins, or ["*"] for any.'),
      allowHeaders: strings(),
      exposeHeaders: strings(),
      maxAgeSeconds: shape.integer({ minimum: 0 }),
      credentials: shape.boolean(),
    },
    { required: ['origins'] },
  ),
])

/**
 * The whole gateway config file (also read by the verify service, `keybound authz`).
 * @example
 * ```ts
 * findUnknownKeys(GATEWAY_SHAPE, { upstream: { timeout: 5 } })
 * // ['upstream.timeout: is not a known setting']
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export const GATEWAY_SHAPE = shape.object(
  {
    listen: listen('The public listener (default 127.0.0.1:8080).'),
    publicBaseUrl: shape.string({ description: 'The URL clients call; proofs name it in htu.' }),
    trustProxy: shape.boolean(),
    upstream: shape.object(
      {
        url: shape.string(),
        timeoutMs: shape.integer({ minimum: 1, maximum: 3_600_000 }),
        connections: shape.integer({ minimum: 1, maximum: 65_536 }),
      },
      { required: ['url'] },
    ),
    tokens: shape.object({
      jwt: shape.object(
        {
          issuer: shape.string(),
          audience,
          jwksUri: shape.string(),
          profile: shape.oneOf(PROFILE_NAMES),
        },
        { required: ['issuer', 'audience'] },
      ),
      introspection: shape.object(
        {
          profile: shape.oneOf(PROFILE_NAMES),
          endpoint: shape.string(),
          clientId: shape.string(),
          clientSecretEnv: shape.string({
            description: 'NAME of the variable holding the secret.',
          }),
          audience,
        },
        { required: ['endpoint', 'clientId', 'clientSecretEnv', 'audience'] },
      ),
    }),
    replay: shape.union([
      shape.constant('memory'),
      shape.object({
        memory: shape.object({ maxEntries: shape.integer({ minimum: 1 }) }),
        redis: shape.object({
          url: shape.string(),
          urlEnv: shape.string(),
          keyPrefix: shape.string(),
        }),
      }),
    ]),
    nonces: shape.union([
      shape.constant('off'),
      shape.constant(false),
      shape.object(
        {
          secretEnv: shape.string({ description: 'NAME of the variable holding the secret.' }),
          stepSeconds: shape.integer({ minimum: 1, maximum: 86_400 }),
        },
        { required: ['secretEnv'] },
      ),
    ]),
    routes: shape.array(
      shape.object({
        path: shape.string(),
        prefix: shape.string(),
        methods: strings(),
        scopes: strings(),
        public: shape.boolean(),
        cors,
      }),
      { minItems: 1 },
    ),
    cors,
    paths: shape.object({ semicolons: shape.oneOf(['refuse', 'strip']) }),
    identityHeaders: shape.object({
      subject: shape.string(),
      clientId: shape.string(),
      scope: shape.string(),
      jkt: shape.string(),
    }),
    forwardAuthorization: shape.oneOf(['strip', 'keep']),
    requestHeaders: shape.object({
      underscores: shape.oneOf(['drop-reserved', 'drop-all']),
      overrides: shape.oneOf(['strip', 'keep']),
    }),
    limits: shape.object({
      bodyBytes: shape.integer(),
      headerBytes: shape.integer(),
      requestTimeoutMs: shape.integer(),
    }),
    admin: shape.object({
      pathPrefix: shape.string(),
      metrics: shape.boolean(),
      listen: listen('A second listener for health and metrics.'),
      publicMetrics: shape.boolean(),
    }),
    shutdownTimeoutMs: shape.integer(),
    allowBearer: shape.boolean(),
    algorithms: strings(),
    log: shape.object({
      level: shape.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    }),
    verify: shape.object({
      trustedProxies: strings(),
      upstreamAuthorization: shape.oneOf(['none', 'bearer']),
      grpc: listen("Envoy's gRPC check service."),
    }),
    resourceMetadata: shape.object({
      resource: shape.string(),
      authorizationServers: strings(),
      scopesSupported: strings(),
      resourceName: shape.string(),
      resourceDocumentation: shape.string(),
    }),
  },
  { required: ['publicBaseUrl', 'tokens', 'routes'] },
)

/**
 * The JSON Schema of the config file, as published in `schema/gateway.schema.json`.
 * @example
 * ```ts
 * import { gatewayJsonSchema } from '@keybound/gateway'
 * const schema = gatewayJsonSchema()
 * ```
 * @see https://json-schema.org/draft-07/json-schema-core
 */
export function gatewayJsonSchema(): JsonSchema {
  return toJsonSchema(GATEWAY_SHAPE, {
    id: 'https://raw.githubusercontent.com/keybound/keybound/main/packages/gateway/schema/gateway.schema.json',
    title: 'Keybound gateway configuration',
  })
}
