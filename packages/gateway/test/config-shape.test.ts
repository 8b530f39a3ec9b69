/**
 * The gateway's config shape (ADR 0046) and `${NAME}` references (ADR 0047): the published JSON
 * Schema, checked with Ajv (the validator YAML and JSON language servers build on), accepts and
 * refuses the same documents as the loader, and a reference is read from the environment with
 * an unset one named once, by variable name only.
 */
import { readFile } from 'node:fs/promises'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { GatewayConfigError, gatewayJsonSchema, resolveGatewayConfig } from '../src/index.js'

const SCHEMA_FILE = new URL('../schema/gateway.schema.json', import.meta.url)
const NONCE_SECRET = 'n'.repeat(32)

function problemsOf(input: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    resolveGatewayConfig(input, env)
  } catch (error) {
    if (error instanceof GatewayConfigError) return error.issues
    throw error
  }
  return []
}

// Every section, so a member the shape forgot would be refused here.
const EVERY_SECTION = {
  listen: { host: '127.0.0.1', port: 8080 },
  publicBaseUrl: 'https://api.example.com',
  trustProxy: false,
  upstream: { url: 'http://127.0.0.1:3000', timeoutMs: 30000, connections: 16 },
  tokens: {
    jwt: {
      issuer: 'https://as.example.com',
      audience: ['https://api.example.com'],
      jwksUri: 'https://as.example.com/jwks',
      profile: 'rfc9068',
    },
  },
  replay: { redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'gw:' } },
  nonces: { secretEnv: 'GATEWAY_NONCE_SECRET', stepSeconds: 60 },
  routes: [
    { path: '/items/:id', methods: ['GET'], scopes: ['items:read'], cors: false },
    { prefix: '/status', public: true },
  ],
  cors: {
    origins: ['https://app.example.com'],
    allowHeaders: ['Content-Type'],
    exposeHeaders: ['X-Total'],
    maxAgeSeconds: 600,
    credentials: false,
  },
  paths: { semicolons: 'refuse' },
  identityHeaders: { subject: 'x-sub', clientId: 'x-client', scope: 'x-scope', jkt: 'x-jkt' },
  forwardAuthorization: 'strip',
  requestHeaders: { underscores: 'drop-reserved', overrides: 'strip' },
  limits: { bodyBytes: 1048576, headerBytes: 16384, requestTimeoutMs: 60000 },
  admin: { pathPrefix: '/_keybound', metrics: true, listen: { port: 9464 }, publicMetrics: false },
  shutdownTimeoutMs: 10000,
  allowBearer: false,
  algorithms: ['ES256'],
  log: { level: 'info' },
  verify: { trustedProxies: ['127.0.0.1'], upstreamAuthorization: 'none', grpc: { port: 9001 } },
  resourceMetadata: {
    resource: 'https://api.example.com',
    authorizationServers: ['https://as.example.com'],
    scopesSupported: ['items:read'],
    resourceName: 'Items',
    resourceDocumentation: 'https://api.example.com/docs',
  },
}
const ENV = { GATEWAY_NONCE_SECRET: NONCE_SECRET }

const TYPOS = {
  'upstream.timeout': { upstream: { url: 'http://127.0.0.1:3000', timeout: 5 } },
  'routes[0].scope': { routes: [{ prefix: '/', scope: ['a'] }] },
  'tokens.jwt.jwks_uri': {
    tokens: { jwt: { issuer: 'https://as.example.com', audience: 'a', jwks_uri: 'x' } },
  },
} as const

describe('gateway config shape', () => {
  it('D46 — the published JSON Schema is the one the shape writes', async () => {
    const published: unknown = JSON.parse(await readFile(SCHEMA_FILE, 'utf8'))
    expect(published).toEqual(gatewayJsonSchema())
  })

  it('D46 — a config with every section passes the loader and the JSON Schema; each typo fails both', async () => {
    const validate = new Ajv({ allErrors: true }).compile(
      JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as object,
    )
    expect(problemsOf(EVERY_SECTION, ENV)).toEqual([])
    expect(validate(EVERY_SECTION), JSON.stringify(validate.errors)).toBe(true)
    for (const [path, typo] of Object.entries(TYPOS)) {
      const document = { ...EVERY_SECTION, ...typo }
      expect(problemsOf(document, ENV)).toContain(`${path}: is not a known setting`)
      expect(validate(document)).toBe(false)
    }
  })
})

describe('gateway ${NAME} references', () => {
  it('D47 — reads ${NAME} in any string value, as the authorization server does', () => {
    const config = resolveGatewayConfig(
      {
        ...EVERY_SECTION,
        upstream: { url: '${UPSTREAM_URL}' },
        replay: { redis: { url: 'redis://${REDIS_HOST}:6379' } },
      },
      { ...ENV, UPSTREAM_URL: 'http://127.0.0.1:4000', REDIS_HOST: '127.0.0.1' },
    )
    expect(config.upstream.url.href).toBe('http://127.0.0.1:4000/')
    expect(config.replay).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379' })
  })

  it('D47 — names an unset variable once, by name, and not the problems it causes', () => {
    expect(problemsOf({ ...EVERY_SECTION, upstream: { url: '${UPSTREAM_URL}' } }, ENV)).toEqual([
      'upstream.url: environment variable UPSTREAM_URL is not set',
    ])
  })
})
