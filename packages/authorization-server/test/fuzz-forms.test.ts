/**
 * Property tests (fast-check) of the token and PAR endpoints with attacker-controlled bodies and
 * headers: random form parameters (real names, hostile values, repeats), random raw bodies and
 * content types, random `Authorization` and `DPoP` headers. Mostly through Fastify's `inject`,
 * which runs the whole route (content-type parsing, body limit, hooks, handler, error handler)
 * without a socket, and a sample over real HTTP on 127.0.0.1. No crash, no hang, no acceptance:
 * every answer is a documented OAuth error with a documented status. And the config loader:
 * any document gives a config or a `ConfigError`, nothing else.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, resolveConfig } from '../src/index.js'
import { recordReliability } from '@keybound/test-kit/reliability'
import { startServer, type TestServer } from './support.js'

const SEED = 20_261_111
const RUNS = {
  injectToken: 5_000,
  injectPar: 3_000,
  http: 400,
  configObjects: 6_000,
  configText: 4_000,
}
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0)
const STATUSES = [400, 401, 413, 415]
const ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'invalid_request_uri',
  'invalid_request_object',
])

let server: TestServer
let served = 0

beforeAll(async () => {
  // Rate limits off: thousands of requests from one client are the point here (they are
  // tested on their own in limits.test.ts).
  server = await startServer('sqlite', { rateLimits: { enabled: false } })
})

afterAll(async () => {
  await server?.close()
  recordReliability('as-fuzz', { fuzzCases: TOTAL, requestsServed: served })
})

const noise = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '%', '%00', '&', '=', '+', 'a'.repeat(9000), '{"a":1}', '[]'),
)
const NAMES = [
  'grant_type',
  'client_id',
  'client_secret',
  'code',
  'redirect_uri',
  'code_verifier',
  'refresh_token',
  'scope',
  'resource',
  'client_assertion',
  'client_assertion_type',
  'dpop_jkt',
  'response_type',
  'state',
  'request',
  'request_uri',
  'code_challenge_method',
  'access_token',
  '__proto__',
  'constructor',
]
const values = fc.oneof(
  noise,
  fc.constantFrom(
    'client_credentials',
    'authorization_code',
    'refresh_token',
    'code',
    'service',
    'public-app',
    'par-only',
    'service-jwt',
    'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    'urn:ietf:params:oauth:request_uri:abc',
    'eyJhbGciOiJub25lIn0.eyJpc3MiOiJzZXJ2aWNlIn0.',
    'read',
  ),
)
const formBody = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 10 })), values), {
    maxLength: 8,
  })
  .map((pairs) => {
    const form = new URLSearchParams()
    for (const [name, value] of pairs) form.append(name, value)
    return form.toString()
  })
const body = fc.oneof(formBody, formBody, noise, fc.string({ maxLength: 300 }))
const contentType = fc.oneof(
  fc.constant('application/x-www-form-urlencoded'),
  fc.constant('application/x-www-form-urlencoded'),
  fc.constantFrom('application/json', 'text/plain', 'multipart/form-data', ''),
  fc.string({ maxLength: 30 }),
)
const headerValue = fc.oneof(
  noise,
  fc.string({ unit: fc.constantFrom(...'ABCabc012-_.'.split('')), maxLength: 60 }),
  fc.constantFrom('Basic c2VydmljZTp3cm9uZw==', 'Basic Og==', 'Basic !!!', 'Bearer x', 'DPoP x'),
)
const request = fc.record(
  {
    body,
    contentType,
    authorization: headerValue,
    dpop: fc.oneof(headerValue, fc.constant('a.b.c')),
  },
  { requiredKeys: ['body', 'contentType'] },
)

type Sample = { body: string; contentType: string; authorization?: string; dpop?: string }

function headersOf(sample: Sample): Record<string, string> {
  const headers: Record<string, string> = {}
  // Header values that HTTP cannot carry are not attacks on the server: skip them.
  const safe = (value: string) => /^[\t\x20-\x7e]*$/.test(value)
  if (sample.contentType !== '' && safe(sample.contentType))
    headers['content-type'] = sample.contentType
  if (sample.authorization !== undefined && safe(sample.authorization))
    headers.authorization = sample.authorization
  if (sample.dpop !== undefined && safe(sample.dpop)) headers.dpop = sample.dpop
  return headers
}

function expectDocumentedError(status: number, text: string): void {
  served++
  expect(STATUSES, text).toContain(status)
  const parsed = JSON.parse(text) as { error?: unknown; error_description?: unknown }
  expect(ERRORS, text).toContain(parsed.error)
  expect(typeof parsed.error_description).toBe('string')
}

function injectProperty(path: '/token' | '/par', numRuns: number) {
  return fc.assert(
    fc.asyncProperty(request, async (sample) => {
      const answer = await server.server.app.inject({
        method: 'POST',
        url: path,
        headers: headersOf(sample),
        payload: sample.body,
      })
      expectDocumentedError(answer.statusCode, answer.body)
    }),
    { numRuns, seed: SEED },
  )
}

describe('token and PAR endpoints with hostile requests', () => {
  it(`/token through inject: only documented errors (${RUNS.injectToken} runs)`, async () => {
    await injectProperty('/token', RUNS.injectToken)
  })

  it(`/par through inject: only documented errors (${RUNS.injectPar} runs)`, async () => {
    await injectProperty('/par', RUNS.injectPar)
  })

  it(`/token and /par over real HTTP on 127.0.0.1: the same (${RUNS.http} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/token', '/par'), request, async (path, sample) => {
        const response = await fetch(server.url(path), {
          method: 'POST',
          headers: headersOf(sample),
          body: sample.body,
          signal: AbortSignal.timeout(5_000),
        })
        expectDocumentedError(response.status, await response.text())
      }),
      { numRuns: RUNS.http, seed: SEED },
    )
  })
})

describe('config loader with hostile documents', () => {
  function expectConfigOrConfigError(load: () => unknown): void {
    try {
      load()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).issues.length).toBeGreaterThan(0)
    }
  }

  const settingNames = fc.constantFrom(
    'issuer',
    'clients',
    'users',
    'accessTokens',
    'refreshTokens',
    'par',
    'signing',
    'dpop',
    'registration',
    'storage',
    'replay',
    'lint',
    'limits',
    'rateLimits',
    'cors',
    'lifetime',
    'max',
    'windowSeconds',
    'client_id',
    'redirect_uris',
    'jwks',
    'keys',
    'enabled',
    '__proto__',
  )
  // JSON-shaped documents built from the real setting names, so the fuzzer reaches the checks
  // of every section instead of stopping at "unknown setting".
  const { document } = fc.letrec((tie) => ({
    document: fc.dictionary(settingNames, tie('value'), { maxKeys: 5 }),
    value: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 1 }),
      fc.constantFrom('${NOPE}', 'https://as.example.com', 'http://127.0.0.1:9/cb', 'postgres://x'),
      fc.array(tie('value'), { maxLength: 3 }),
      tie('document'),
    ),
  }))

  it(`resolveConfig: any document gives a config or a ConfigError (${RUNS.configObjects} runs)`, () => {
    fc.assert(
      fc.property(fc.oneof(document, fc.jsonValue()), (input) => {
        expectConfigOrConfigError(() => resolveConfig(input, {}))
      }),
      { numRuns: RUNS.configObjects, seed: SEED },
    )
  })

  it(`parseConfig: any text (YAML or JSON) gives a config or a ConfigError (${RUNS.configText} runs)`, () => {
    const yamlish = fc.array(
      fc.constantFrom(
        'issuer: ',
        'clients:\n',
        '  - ',
        '&a ',
        '*a',
        '[',
        ']',
        '{',
        '}',
        ': ',
        '\n',
        '"',
        "'",
        '!!binary ',
        '<<: *a',
        '---\n',
        'x',
        '1e999',
      ),
      { maxLength: 30 },
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          yamlish.map((parts) => parts.join('')),
        ),
        (text) => {
          expectConfigOrConfigError(() => parseConfig(text, {}))
        },
      ),
      { numRuns: RUNS.configText, seed: SEED },
    )
  })
})
