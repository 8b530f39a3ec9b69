/**
 * Property tests (fast-check) of the resource server's entry points with attacker-controlled
 * input: the `Authorization` and `DPoP` headers, method and target through `verifyRequest`, and
 * JWT access tokens through `jwtAccessTokens`. No crash, no hang, no acceptance; every refusal is
 * one of the documented statuses and reason codes, and every header it sets is a safe field value.
 * The core proof parser is fuzzed in packages/core/test/properties.test.ts; this adds what sits
 * in front of it.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportJWK, generateKeyPair as generateJoseKeyPair, SignJWT, type CryptoKey } from 'jose'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  AccessTokenInvalid,
  createResourceServer,
  jwtAccessTokens,
  MemoryReplayStore,
  REJECTION_CODES,
  type AccessTokenValidator,
  type ResourceServer,
  type Verdict,
} from '@keybound/server'
import { recordReliability } from '@keybound/test-kit/reliability'

const BASE = 'https://rs.fuzz.test'
const ISSUER = 'https://as.fuzz.test'
const SEED = 20_261_109
const RUNS = { headers: 12_000, mutatedCredentials: 4_000, jwtStrings: 6_000, jwtClaims: 3_000 }
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0)
// Every verdict must come within this long: a parser that loops shows up as a failure, not a hang.
const DEADLINE_MS = 2_000

// The documented reason codes: the server's own and @keybound/core's ERR_DPOP_* codes.
const CORE_CODES = [
  'ERR_DPOP_PROOF_MALFORMED',
  'ERR_DPOP_HEADER_INVALID',
  'ERR_DPOP_SIGNATURE_INVALID',
  'ERR_DPOP_CLAIM_INVALID',
  'ERR_DPOP_CLAIM_MISMATCH',
  'ERR_DPOP_IAT_OUT_OF_WINDOW',
  'ERR_DPOP_REPLAYED',
  'ERR_DPOP_KEY_UNSUPPORTED',
  'ERR_DPOP_KEY_BINDING_MISMATCH',
  'ERR_DPOP_NONCE_REQUIRED',
  'ERR_DPOP_NONCE_INVALID',
]
const DOCUMENTED = new Set<string>([
  ...Object.values(REJECTION_CODES).filter((code) => code !== REJECTION_CODES.internal),
  ...CORE_CODES,
])
// RFC 9110 §5.5 field-value: visible ASCII and spaces only (no CR, LF or NUL can sneak in).
const FIELD_VALUE = /^[\x20-\x7E]*$/

let signingKey: CryptoKey
let accessTokens: AccessTokenValidator
let resourceServer: ResourceServer
let key: DPoPKeyPair
let token: string
let spentProof: string
let unboundToken: string
let verdicts = 0

async function mint(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header } as never)
    .sign(signingKey)
}

function validClaims(jkt?: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: ISSUER,
    aud: BASE,
    sub: 'alice',
    client_id: 'client-1',
    iat: now,
    exp: now + 300,
    jti: `jti-${Math.random()}`,
    scope: 'read',
    ...(jkt === undefined ? {} : { cnf: { jkt } }),
  }
}

function withDeadline<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

function expectDocumentedRejection(verdict: Verdict): void {
  verdicts++
  expect(verdict.ok).toBe(false)
  if (verdict.ok) return
  expect([400, 401, 403]).toContain(verdict.status)
  if (verdict.status !== 401 || verdict.error !== '') expect(DOCUMENTED).toContain(verdict.code)
  for (const value of Object.values(verdict.responseHeaders)) expect(value).toMatch(FIELD_VALUE)
}

beforeAll(async () => {
  const pair = await generateJoseKeyPair('ES256')
  signingKey = pair.privateKey
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
  accessTokens = jwtAccessTokens({ issuer: ISSUER, audience: BASE, jwks: { keys: [jwk] } })
  resourceServer = createResourceServer({
    publicBaseUrl: BASE,
    accessTokens,
    replayStore: new MemoryReplayStore(),
    // Bearer stays off: an unbound token the fuzzer sends as Bearer would be a legitimate
    // acceptance, and every acceptance here must be a bug.
  })
  key = await generateKeyPair('ES256')
  token = await mint(validClaims(key.jkt))
  unboundToken = await mint(validClaims())
  // The one real proof the fuzzer may use is spent first: any acceptance below is a bug.
  spentProof = await createProof(key, { htm: 'GET', htu: `${BASE}/items`, accessToken: token })
  const first = await resourceServer.verifyRequest({
    method: 'GET',
    url: '/items',
    headers: { authorization: `DPoP ${token}`, dpop: spentProof },
  })
  expect(first.ok).toBe(true)
})

afterAll(() => {
  recordReliability('server-fuzz', { fuzzCases: TOTAL, notes: [`server: ${verdicts} verdicts`] })
})

// Strings that look like the real thing, broken, and plain noise.
const noise = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(...'ABCxyz012-_.~+/= ,\t"\\'.split('')), maxLength: 120 }),
)
const schemes = fc.constantFrom(
  'DPoP',
  'dpop',
  'DPOP',
  'Bearer',
  'bearer',
  'Basic',
  'Negotiate',
  '',
)
const separators = fc.constantFrom(' ', '  ', '\t', '', ' \t', ',', ' , ')

function authorizationValues(): fc.Arbitrary<string> {
  return fc.oneof(
    noise,
    fc.tuple(schemes, separators, noise).map(([s, sep, rest]) => `${s}${sep}${rest}`),
    fc.tuple(schemes, separators).map(([s, sep]) => `${s}${sep}${token}`),
    fc.tuple(schemes, separators).map(([s, sep]) => `${s}${sep}${unboundToken}`),
    fc.constant(`DPoP ${token}, DPoP ${token}`),
    fc.constant(`DPoP ${token}, Bearer ${unboundToken}`),
    fc.constant('DPoP ' + 'A'.repeat(20_000)),
  )
}

function proofValues(): fc.Arbitrary<string> {
  return fc.oneof(
    noise,
    fc.constant(spentProof),
    fc.tuple(fc.nat(spentProof.length - 1), noise).map(([at, insert]) => {
      return spentProof.slice(0, at) + insert + spentProof.slice(at + 1)
    }),
    fc.constant(`${spentProof}, ${spentProof}`),
    fc.constant(spentProof.split('.').slice(0, 2).join('.')),
  )
}

const oneOrMany = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof(arb, fc.array(arb, { minLength: 0, maxLength: 3 }))

const requests = () =>
  fc.record(
    {
      method: fc.oneof(
        fc.constantFrom('GET', 'POST', 'get', 'DELETE', ''),
        fc.string({ maxLength: 8 }),
      ),
      url: fc.oneof(
        fc.constantFrom('/items', '/items?access_token=x', '//evil.test/items', '*', 'http://[::1'),
        fc.string({ maxLength: 60 }).map((tail) => `/${tail}`),
        fc.string({ maxLength: 60 }),
      ),
      authorization: oneOrMany(authorizationValues()),
      dpop: oneOrMany(proofValues()),
      extra: fc.dictionary(
        fc.constantFrom(
          'Authorization',
          'DPOP',
          'x-forwarded-host',
          'forwarded',
          'origin',
          'content-type',
        ),
        oneOrMany(noise),
        { maxKeys: 3 },
      ),
      body: fc.option(fc.oneof(noise, fc.dictionary(fc.constantFrom('access_token', 'a'), noise))),
    },
    { requiredKeys: ['method', 'url'] },
  )

describe('verifyRequest with hostile headers', () => {
  it(`never accepts, never throws, answers only documented rejections (${RUNS.headers} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(requests(), async (input) => {
        const headers: Record<string, string | string[] | undefined> = { ...input.extra }
        if (input.authorization !== undefined) headers.authorization = input.authorization
        if (input.dpop !== undefined) headers.dpop = input.dpop
        const verdict = await withDeadline(
          resourceServer.verifyRequest({
            method: input.method,
            url: input.url,
            headers,
            ...(input.body === undefined || input.body === null ? {} : { body: input.body }),
          }),
        )
        expectDocumentedRejection(verdict)
      }),
      { numRuns: RUNS.headers, seed: SEED },
    )
  })

  it(`a Web Headers object with any mutation of a real credential pair is refused (${RUNS.mutatedCredentials} runs)`, async () => {
    const mutation = fc.record({
      part: fc.constantFrom('authorization', 'dpop'),
      at: fc.nat(),
      insert: fc.string({ unit: 'grapheme-ascii', minLength: 0, maxLength: 3 }),
      remove: fc.integer({ min: 0, max: 3 }),
    })
    await fc.assert(
      fc.asyncProperty(mutation, async ({ part, at, insert, remove }) => {
        const values = { authorization: `DPoP ${token}`, dpop: spentProof }
        const value = values[part as 'authorization' | 'dpop']
        const index = at % value.length
        values[part as 'authorization' | 'dpop'] =
          value.slice(0, index) + insert + value.slice(index + remove)
        const headers = new Headers()
        try {
          headers.set('authorization', values.authorization)
          headers.set('dpop', values.dpop)
        } catch {
          return // not a value a client could send (fetch refuses it first)
        }
        const verdict = await withDeadline(
          resourceServer.verifyRequest({ method: 'GET', url: '/items', headers }),
        )
        expectDocumentedRejection(verdict)
      }),
      { numRuns: RUNS.mutatedCredentials, seed: SEED },
    )
  })
})

describe('jwtAccessTokens with hostile tokens', () => {
  async function expectRefused(candidate: string): Promise<void> {
    let accepted = false
    try {
      await withDeadline(accessTokens.validate(candidate))
      accepted = true
    } catch (error) {
      // Only the documented error: "this token is not valid" (never a crash of another kind).
      expect(error).toBeInstanceOf(AccessTokenInvalid)
    }
    expect(accepted).toBe(false)
  }

  const b64 = (value: unknown) =>
    Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

  it(`random strings and random JWS-shaped tokens are refused with AccessTokenInvalid (${RUNS.jwtStrings} runs)`, async () => {
    const shaped = fc
      .tuple(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            alg: fc.constantFrom('ES256', 'none', 'HS256', 'RS256'),
            typ: fc.constantFrom('at+jwt', 'JWT'),
            kid: fc.constantFrom('k1', 'k2'),
          }),
        ),
        fc.oneof(fc.jsonValue(), fc.constant(validClaims())),
        fc.string({ maxLength: 90 }),
      )
      .map(([header, payload, signature]) => `${b64(header)}.${b64(payload)}.${b64(signature)}`)
    await fc.assert(fc.asyncProperty(fc.oneof(noise, shaped), expectRefused), {
      numRuns: RUNS.jwtStrings,
      seed: SEED,
    })
  })

  it(`tokens signed by the issuer are accepted only when every RFC 9068 rule holds (${RUNS.jwtClaims} runs)`, async () => {
    const breakages: Array<
      [string, (claims: Record<string, unknown>, header: Record<string, unknown>) => void]
    > = [
      ['iss', (c) => (c.iss = 'https://other.test')],
      ['aud', (c) => (c.aud = 'https://other.test')],
      ['exp', (c) => (c.exp = Math.floor(Date.now() / 1000) - 3600)],
      ['nbf', (c) => (c.nbf = Math.floor(Date.now() / 1000) + 3600)],
      ['sub', (c) => delete c.sub],
      ['client_id', (c) => delete c.client_id],
      ['jti', (c) => delete c.jti],
      ['iat', (c) => delete c.iat],
      ['exp type', (c) => (c.exp = String(c.exp))],
      ['typ', (_c, h) => (h.typ = 'JWT')],
      ['typ missing', (_c, h) => (h.typ = undefined)],
    ]
    const cases = fc.record({
      breakage: fc.option(fc.constantFrom(...breakages), { freq: 4 }),
      extra: fc.dictionary(
        fc
          .string({ maxLength: 8 })
          .filter(
            (name) =>
              ![
                'iss',
                'aud',
                'exp',
                'nbf',
                'sub',
                'client_id',
                'jti',
                'iat',
                'cnf',
                'scope',
                '__proto__',
              ].includes(name),
          ),
        fc.jsonValue({ maxDepth: 3 }),
        { maxKeys: 4 },
      ),
      cnf: fc.option(
        fc.oneof(
          fc.jsonValue({ maxDepth: 2 }),
          fc.record({ jkt: fc.oneof(fc.string(), fc.integer()) }),
        ),
      ),
      scope: fc.option(fc.oneof(fc.string({ maxLength: 30 }), fc.jsonValue({ maxDepth: 1 }))),
    })
    await fc.assert(
      fc.asyncProperty(cases, async ({ breakage, extra, cnf, scope }) => {
        const claims: Record<string, unknown> = { ...extra, ...validClaims() }
        if (cnf !== null) claims.cnf = cnf
        if (scope !== null) claims.scope = scope
        const header: Record<string, unknown> = {}
        if (breakage !== null) breakage[1](claims, header)
        const candidate = await mint(claims, header)
        if (breakage !== null) return expectRefused(candidate)
        // Nothing is broken: accepted, or refused for a documented reason (an odd `scope` or
        // `cnf` type), and `jkt` is set exactly when `cnf.jkt` is a string.
        try {
          const info = await withDeadline(accessTokens.validate(candidate))
          const jkt = (cnf as { jkt?: unknown } | null)?.jkt
          expect(info.jkt).toBe(typeof jkt === 'string' ? jkt : undefined)
          expect(info.subject).toBe('alice')
        } catch (error) {
          expect(error).toBeInstanceOf(AccessTokenInvalid)
        }
      }),
      { numRuns: RUNS.jwtClaims, seed: SEED },
    )
  })
})
