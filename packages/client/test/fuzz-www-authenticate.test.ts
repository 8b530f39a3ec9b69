/**
 * Property tests (fast-check) of `parseWwwAuthenticate`, the parser a client runs on whatever a
 * server or proxy sends: (a) any input yields a list of challenges, never an exception or a
 * hang; (b) any well-formed challenge list, written with the optional whitespace and escapes
 * RFC 9110 §11.6.1 allows, parses back to exactly what was written; (c) round trip with the
 * resource server's challenge builder: every challenge `@keybound/server` sends for any realm,
 * algorithm list, scopes and hostile request reads back with the same error, description,
 * scope, realm and `algs`.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import {
  AccessTokenInvalid,
  createResourceServer,
  type AccessTokenValidator,
  type Verdict,
} from '@keybound/server'
import { findChallenge, parseWwwAuthenticate } from '../src/index.js'
import { recordReliability } from '@keybound/test-kit/reliability'

const SEED = 20_261_110
const RUNS = { anyInput: 12_000, wellFormed: 6_000, serverRoundTrip: 4_000 }
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0)
const TCHARS =
  "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('')
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'EdDSA']

afterAll(() => recordReliability('client-fuzz', { fuzzCases: TOTAL }))

const token = (maxLength = 12) =>
  fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength })
// Quoted-string content: any printable ASCII, quotes and backslashes included (escaped on write).
const quotable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
})
const ows = fc.constantFrom('', ' ', '\t', '  ')

describe('parseWwwAuthenticate', () => {
  it(`(a) any input gives a list of challenges, never an exception (${RUNS.anyInput} runs)`, () => {
    const fragments = fc.constantFrom(
      'DPoP',
      'Bearer',
      ' ',
      ',',
      '=',
      '"',
      '\\',
      'algs',
      'error',
      '\t',
      'a==',
      '"x\\"y"',
    )
    const input = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.array(fragments, { maxLength: 40 }).map((parts) => parts.join('')),
      fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 }),
      fc.constant('a'.repeat(20_000)),
    )
    fc.assert(
      fc.property(input, (value) => {
        const started = performance.now()
        const challenges = parseWwwAuthenticate(value)
        expect(performance.now() - started).toBeLessThan(500)
        expect(Array.isArray(challenges)).toBe(true)
        for (const challenge of challenges) {
          expect(challenge.scheme).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/)
          for (const [name, text] of Object.entries(challenge.params)) {
            expect(name).toBe(name.toLowerCase())
            expect(typeof text).toBe('string')
          }
        }
      }),
      { numRuns: RUNS.anyInput, seed: SEED },
    )
  })

  it(`(b) well-formed challenge lists parse back exactly (${RUNS.wellFormed} runs)`, () => {
    const challenge = fc.record({
      scheme: token(),
      params: fc.uniqueArray(fc.tuple(token(8), fc.oneof(quotable, token())), {
        maxLength: 4,
        selector: ([name]) => name.toLowerCase(),
      }),
      quoteAll: fc.boolean(),
      before: ows,
      after: ows,
    })
    fc.assert(
      fc.property(
        fc.array(challenge, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (list, split) => {
          const rendered = list.map(({ scheme, params, quoteAll, before, after }) => {
            const written = params.map(([name, value]) => {
              const bare = !quoteAll && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)
              const text = bare ? value : `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
              return `${name}${before}=${after}${text}`
            })
            return written.length === 0 ? scheme : `${scheme} ${written.join(`${after},${before}`)}`
          })
          const parsed = parseWwwAuthenticate(split ? rendered : rendered.join(', '))
          expect(parsed.map((c) => ({ scheme: c.scheme, params: { ...c.params } }))).toEqual(
            list.map(({ scheme, params }) => ({
              scheme,
              params: Object.fromEntries(
                params.map(([name, value]) => [name.toLowerCase(), value]),
              ),
            })),
          )
        },
      ),
      { numRuns: RUNS.wellFormed, seed: SEED },
    )
  })
})

describe('round trip with the resource server (@keybound/server challenges)', () => {
  const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
  // Tokens name their fate, so every rejection kind is reachable without an issuer.
  const validator: AccessTokenValidator = {
    async validate(candidate) {
      if (candidate.startsWith('bound')) return { claims: {}, scope: ['read'], jkt: JKT }
      if (candidate.startsWith('unbound')) return { claims: {}, scope: ['read'] }
      throw new AccessTokenInvalid('refused')
    },
  }
  const realm = fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0x7e })
      .filter((c) => c !== 0x22 && c !== 0x5c)
      .map((c) => String.fromCharCode(c)),
    maxLength: 20,
  })
  const scenario = fc.record({
    realm: fc.option(realm),
    algorithms: fc.subarray(ALGORITHMS, { minLength: 1 }),
    allowBearer: fc.boolean(),
    scopes: fc.uniqueArray(
      fc.string({ unit: fc.constantFrom(...'abcrw:._-'.split('')), minLength: 1, maxLength: 6 }),
      { maxLength: 3 },
    ),
    authorization: fc.option(
      fc.constantFrom(
        'DPoP bound',
        'DPoP unbound',
        'DPoP bad',
        'Bearer unbound',
        'Bearer bound',
        'Bearer bad',
        'DPoP',
        'Bearer a b',
        'DPoP bound, Bearer unbound',
      ),
    ),
    dpop: fc.option(fc.oneof(fc.string({ maxLength: 60 }), fc.constant('a.b.c'))),
    origin: fc.boolean(),
  })
  it(`every challenge the server builds reads back the same (${RUNS.serverRoundTrip} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const resourceServer = createResourceServer({
          publicBaseUrl: 'https://rs.example.test',
          accessTokens: validator,
          algorithms: s.algorithms,
          allowBearer: s.allowBearer,
          ...(s.realm === null ? {} : { realm: s.realm }),
        })
        const headers: Record<string, string> = {}
        if (s.authorization !== null) headers.authorization = s.authorization
        if (s.dpop !== null) headers.dpop = s.dpop
        if (s.origin) headers.origin = 'https://app.example.test'
        const verdict: Verdict = await resourceServer.verifyRequest(
          { method: 'GET', url: '/items', headers },
          { scopes: s.scopes },
        )
        const header = verdict.responseHeaders['WWW-Authenticate']
        if (verdict.ok || verdict.status === 503) {
          expect(header).toBeUndefined()
          return
        }
        const challenges = parseWwwAuthenticate(header!)
        const dpop = findChallenge(challenges, 'DPoP')
        expect(dpop?.algs).toEqual(s.algorithms)
        const bearer = findChallenge(challenges, 'Bearer')
        if (s.allowBearer) expect(bearer).toBeDefined()
        for (const challenge of challenges) {
          expect(['DPoP', 'Bearer']).toContain(challenge.scheme)
          if (s.realm !== null) expect(challenge.params.realm).toBe(s.realm)
        }
        const carrying = challenges.filter((c) => c.params.error !== undefined)
        if (verdict.error === '') {
          expect(carrying).toHaveLength(0)
          return
        }
        expect(carrying.length).toBeGreaterThan(0)
        for (const challenge of carrying) {
          expect(challenge.params.error).toBe(verdict.error)
          if (verdict.errorDescription !== undefined)
            expect(challenge.params.error_description).toBe(verdict.errorDescription)
          if (verdict.error === 'insufficient_scope')
            expect(challenge.params.scope).toBe(s.scopes.join(' '))
        }
        if (s.origin)
          expect(verdict.responseHeaders['Access-Control-Expose-Headers']).toMatch(
            /WWW-Authenticate/,
          )
      }),
      { numRuns: RUNS.serverRoundTrip, seed: SEED },
    )
  })
})
