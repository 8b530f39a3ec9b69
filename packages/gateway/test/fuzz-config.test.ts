/**
 * Property tests (fast-check) of the gateway's config loader: any document (built from the real
 * setting names, so every section's checks are reached) and any file text gives a resolved
 * config or a `GatewayConfigError` naming the bad fields; nothing else escapes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayConfigError, loadGatewayConfig, resolveGatewayConfig } from '../src/index.js'
import { recordReliability } from '@keybound/test-kit/reliability'

const SEED = 20_261_112
const RUNS = { documents: 8_000, validBase: 3_000, files: 400 }
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0)
const ENV = { SECRET: 'x'.repeat(40), REDIS_URL: 'redis://127.0.0.1:6379' }

let directory: string

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kb-gw-fuzz-'))
})

afterAll(async () => {
  await rm(directory, { recursive: true, force: true })
  recordReliability('gateway-config-fuzz', { fuzzCases: TOTAL })
})

function expectConfigOrError(load: () => unknown): void {
  try {
    load()
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayConfigError)
    expect((error as GatewayConfigError).issues.length).toBeGreaterThan(0)
  }
}

const names = fc.constantFrom(
  'listen',
  'publicBaseUrl',
  'trustProxy',
  'upstream',
  'tokens',
  'replay',
  'nonces',
  'routes',
  'identityHeaders',
  'forwardAuthorization',
  'limits',
  'admin',
  'shutdownTimeoutMs',
  'allowBearer',
  'algorithms',
  'log',
  'url',
  'timeoutMs',
  'jwt',
  'introspection',
  'issuer',
  'audience',
  'jwksUri',
  'redis',
  'memory',
  'urlEnv',
  'secretEnv',
  'path',
  'prefix',
  'methods',
  'scopes',
  'public',
  'bodyBytes',
  'headerBytes',
  'requestTimeoutMs',
  'pathPrefix',
  'level',
  'requestHeaders',
  'underscores',
  'overrides',
  'paths',
  'semicolons',
  'publicMetrics',
  'cors',
  'origins',
  'allowHeaders',
  'exposeHeaders',
  'maxAgeSeconds',
  'credentials',
  '__proto__',
)
const { document } = fc.letrec((tie) => ({
  document: fc.dictionary(names, tie('value'), { maxKeys: 5 }),
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 1 }),
    fc.constantFrom(
      'https://api.example.com',
      'http://127.0.0.1:1',
      '/items/*',
      'SECRET',
      'GET',
      'off',
      'strip',
      '*',
      'https://app.example.com',
    ),
    fc.array(tie('value'), { maxLength: 3 }),
    tie('document'),
  ),
}))

// A valid config with one section replaced by anything: the checks of each section in turn.
const VALID = {
  publicBaseUrl: 'https://api.example.com',
  upstream: { url: 'http://127.0.0.1:1' },
  tokens: {
    jwt: {
      issuer: 'https://as.example.com',
      audience: 'https://api.example.com',
      jwksUri: 'https://as.example.com/jwks',
    },
  },
  routes: [{ prefix: '/', scopes: ['read'] }],
}

describe('gateway config loader with hostile documents', () => {
  it(`resolveGatewayConfig: a config or a GatewayConfigError (${RUNS.documents} runs)`, () => {
    fc.assert(
      fc.property(fc.oneof(document, fc.jsonValue()), (input) => {
        expectConfigOrError(() => resolveGatewayConfig(input, ENV))
      }),
      { numRuns: RUNS.documents, seed: SEED },
    )
  })

  it(`a valid config with any one section replaced: the same (${RUNS.validBase} runs)`, () => {
    fc.assert(
      fc.property(names, fc.oneof(document, fc.jsonValue()), (name, value) => {
        expectConfigOrError(() => resolveGatewayConfig({ ...VALID, [name]: value }, ENV))
      }),
      { numRuns: RUNS.validBase, seed: SEED },
    )
  })

  it(`loadGatewayConfig: any file text, YAML or JSON (${RUNS.files} runs)`, async () => {
    let n = 0
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .array(
          fc.constantFrom(
            'routes:\n',
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
            '!!js/function ',
            '<<: *a',
            'x',
          ),
          { maxLength: 30 },
        )
        .map((p) => p.join('')),
      fc.jsonValue().map((value) => JSON.stringify(value)),
    )
    await fc.assert(
      fc.asyncProperty(text, fc.constantFrom('.yaml', '.json'), async (content, extension) => {
        const file = join(directory, `config-${n++}${extension}`)
        await writeFile(file, content)
        try {
          await loadGatewayConfig(file, ENV)
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayConfigError)
        }
      }),
      { numRuns: RUNS.files, seed: SEED },
    )
  })
})
