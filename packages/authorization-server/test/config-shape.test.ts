/**
 * The authorization server's config shape (ADR 0046): unknown members are refused at every
 * depth with their path, and the published JSON Schema, checked with Ajv (the validator YAML and
 * JSON language servers build on), accepts and refuses the same documents as the loader.
 */
import { readFile } from 'node:fs/promises'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { authorizationServerJsonSchema, ConfigError, resolveConfig } from '../src/index.js'

const SCHEMA_FILE = new URL('../schema/authorization-server.schema.json', import.meta.url)

function issuesOf(input: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    resolveConfig(input, env)
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  return []
}

// Every section, so a member the shape forgot would be refused here.
const EVERY_SECTION = {
  issuer: 'https://as.example.com',
  authorizationResponse: { iss: true },
  clients: [
    {
      client_id: 'web',
      client_secret: 'a-secret-of-sixteen-chars',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: ['https://app.example.com/cb'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'client_credentials',
        'urn:ietf:params:oauth:grant-type:token-exchange',
      ],
      scope: 'read write',
      dpop_bound_access_tokens: true,
      access_token_format: 'jwt',
      first_party: true,
      require_pushed_authorization_requests: false,
      client_name: 'Web',
      audience: 'https://api.example.com',
      resource_server: ['https://api.example.com'],
    },
    {
      client_id: 'jwt-client',
      jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', use: 'sig' }] },
      grant_types: ['client_credentials'],
      profile: 'fapi2',
    },
  ],
  users: [],
  accessTokens: { lifetime: 300, format: 'opaque', audience: 'https://api.example.com' },
  resources: [{ identifier: 'https://api.example.com', accessTokenFormat: 'jwt' }],
  refreshTokens: { lifetime: 3600, absoluteLifetime: 86400 },
  authorizationCodes: { lifetime: 60 },
  par: { lifetime: 60, required: false },
  signing: { alg: 'ES256' },
  dpop: {
    algorithms: ['ES256', 'EdDSA'],
    required: true,
    maxAge: 60,
    clockTolerance: 10,
    nonce: { required: true, stepSeconds: 60 },
  },
  registration: {
    initialAccessToken: 'an-initial-access-token',
    allowedScopes: ['read'],
    allowClientCredentials: false,
    trustedRedirectHosts: ['app.example.com'],
  },
  storage: { dataDir: './data', sweep: { intervalSeconds: 60, batchSize: 500, graceSeconds: 60 } },
  replay: { keyPrefix: 'keybound:as:dpop:' },
  lint: { maxAccessTokenLifetimeWithoutNonce: 3600 },
  cors: { allowedOrigins: ['https://app.example.com'] },
  limits: { bodyBytes: 65536, headerBytes: 16384, requestTimeoutMs: 30000, jsonDepth: 16 },
  rateLimits: { enabled: true, token: { max: 10, windowSeconds: 60 } },
  metrics: { port: 0, host: '127.0.0.1', onMainListener: false },
  trustProxy: ['10.0.0.0/8'],
  passwords: { scryptLogN: 17 },
  tokenExchange: {
    audiences: ['https://api.example.com'],
    delegation: [{ actor: 'web', subjectClients: ['*'], audiences: ['https://api.example.com'] }],
    maxActDepth: 2,
    trustedIssuers: [
      { issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks' },
    ],
  },
}

// The three typos issue 20 found silently ignored, one per depth the old loader never looked at.
const TYPOS = {
  'clients[0].scopes': { clients: [{ ...EVERY_SECTION.clients[0], scopes: 'read' }] },
  'accessTokens.lifetme': { accessTokens: { lifetme: 60 } },
  'dpop.nonce.requird': { dpop: { nonce: { requird: false } } },
} as const

describe('authorization-server config shape', () => {
  it('D45 — refuses clients[0].scopes, accessTokens.lifetme and dpop.nonce.requird, all at once', () => {
    const issues = issuesOf({
      clients: [{ client_id: 'app', redirect_uris: ['https://app.example/cb'], scopes: 'read' }],
      accessTokens: { lifetme: 60 },
      dpop: { nonce: { requird: false } },
      users: [{ username: 'u', passwordHash: 'x', nickname: 'n' }],
    })
    expect(issues).toEqual(
      expect.arrayContaining([
        'clients[0].scopes: is not a known setting',
        'accessTokens.lifetme: is not a known setting',
        'dpop.nonce.requird: is not a known setting',
        'users[0].nickname: is not a known setting',
      ]),
    )
  })

  it('D45 — leaves the members of a JWK alone: they belong to RFC 7517, not to this file', () => {
    expect(issuesOf({ clients: [EVERY_SECTION.clients[1]] })).toEqual([])
  })

  it('D46 — the published JSON Schema is the one the shape writes', async () => {
    const published: unknown = JSON.parse(await readFile(SCHEMA_FILE, 'utf8'))
    expect(published).toEqual(authorizationServerJsonSchema())
  })

  it('D46 — a config with every section passes the loader and the JSON Schema; each typo fails both', async () => {
    const validate = new Ajv({ allErrors: true }).compile(
      JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as object,
    )
    expect(issuesOf(EVERY_SECTION)).toEqual([])
    expect(validate(EVERY_SECTION), JSON.stringify(validate.errors)).toBe(true)
    for (const [path, typo] of Object.entries(TYPOS)) {
      const document = { ...EVERY_SECTION, ...typo }
      expect(issuesOf(document)).toContain(`${path}: is not a known setting`)
      expect(validate(document)).toBe(false)
      expect(validate.errors?.map((error) => error.params)).toContainEqual({
        additionalProperty: path.split('.').at(-1),
      })
    }
  })
})
