/**
 * Property tests (fast-check): (a) no single mutation of a valid proof is accepted, (b) random
 * input of any shape yields nothing but a DPoPError, (c) base64url is strict: canonical spellings
 * round-trip, every other spelling of the same bytes is refused even when the signature is valid.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backends, type CoreModule } from './support/backends.js'
import {
  b64u,
  encodePart,
  fromB64u,
  proofClaims,
  proofHeader,
  RS_REQUEST,
  signEncoded,
  signWith,
  testKey,
  type TestKey,
} from './support/jws.js'

const NOW = 1_790_000_000
const OPTIONS = { replayStore: false as const, now: () => NOW * 1000 }
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
// Seeded so a failure is reproducible from the log; fast-check prints the seed and path anyway.
const SEED = 20_260_101

const RUNS = { mutations: 4000, randomInput: 5000, canonical: 1500, nonCanonical: 1500 }
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0)

const keys: TestKey[] = [testKey('ES256'), testKey('EdDSA'), { ...testKey('RS256'), alg: 'PS256' }]
const strangers: TestKey[] = [
  testKey('ES256'),
  testKey('EdDSA'),
  { ...testKey('RS256'), alg: 'PS256' },
]
const ACCESS_TOKEN = 'property-test-token'

function baseProof(index: number): string {
  const key = keys[index]!
  return signEncoded(
    encodePart(proofHeader(key)),
    encodePart(proofClaims(NOW, { jti: `base-${index}` })),
    key,
  )
}

const settle = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )

function expectDPoPError(core: CoreModule, outcome: { ok: boolean; error?: unknown }): void {
  expect(outcome.ok).toBe(false)
  expect(outcome.error).toBeInstanceOf(core.DPoPError)
  expect((outcome.error as { code: string }).code).toMatch(/^ERR_DPOP_[A-Z_]+$/)
}

// --- (a) single mutations of a valid proof
type Mutation = (proof: string, keyIndex: number) => string

const anyChar = fc.oneof(
  fc.constantFrom(...ALPHABET.split('')),
  fc.constantFrom('.', '=', '+', '/', ' ', ',', '\n', '%', '~', '\u00e9', '\u0000'),
)

const jsonValue = fc.jsonValue({ maxDepth: 2 })

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), anyChar).map(([at, ch]): Mutation => (p) => {
    const i = at % p.length
    return p.slice(0, i) + ch + p.slice(i + 1)
  }),
  fc.tuple(fc.nat(), anyChar).map(([at, ch]): Mutation => (p) => {
    const i = at % (p.length + 1)
    return p.slice(0, i) + ch + p.slice(i)
  }),
  fc.nat().map((at): Mutation => (p) => {
    const i = at % p.length
    return p.slice(0, i) + p.slice(i + 1)
  }),
  // change any header member (or a jwk member) and re-encode the header, keeping the signature
  fc
    .tuple(
      fc.constantFrom('typ', 'alg', 'jwk', 'jwk.x', 'jwk.kty', 'jwk.crv', 'jwk.n', 'kid'),
      jsonValue,
    )
    .map(([member, value]): Mutation => (p) => {
      const [h, pl, s] = p.split('.') as [string, string, string]
      const header = JSON.parse(fromB64u(h).toString()) as Record<string, Record<string, unknown>>
      if (member.startsWith('jwk.')) header.jwk = { ...header.jwk, [member.slice(4)]: value }
      else (header as Record<string, unknown>)[member] = value
      return `${encodePart(header)}.${pl}.${s}`
    }),
  // change any claim (or add one) and re-encode the payload, keeping the signature
  fc
    .tuple(fc.constantFrom('jti', 'htm', 'htu', 'iat', 'ath', 'nonce', 'extra'), jsonValue)
    .map(([claim, value]): Mutation => (p) => {
      const [h, pl, s] = p.split('.') as [string, string, string]
      const claims = JSON.parse(fromB64u(pl).toString()) as Record<string, unknown>
      claims[claim] = value
      return `${h}.${encodePart(claims)}.${s}`
    }),
  // re-sign the exact signing input with a different key, keeping the header
  fc.constant<Mutation>((p, k) => {
    const [h, pl] = p.split('.') as [string, string]
    return `${h}.${pl}.${b64u(signWith(strangers[k]!, `${h}.${pl}`))}`
  }),
  // swap in the signature of another valid proof by the same key
  fc.constant<Mutation>((p, k) => {
    const other = signEncoded(
      encodePart(proofHeader(keys[k]!)),
      encodePart(proofClaims(NOW, { jti: 'other' })),
      keys[k]!,
    )
    return `${p.slice(0, p.lastIndexOf('.'))}${other.slice(other.lastIndexOf('.'))}`
  }),
)

// --- (b) random input
const b64uOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
const randomHeader = fc.record(
  {
    typ: fc.oneof(fc.constantFrom('dpop+jwt', 'JWT', 'application/dpop+jwt'), jsonValue),
    alg: fc.oneof(fc.constantFrom('ES256', 'EdDSA', 'PS256', 'none', 'HS256', 'RS256'), jsonValue),
    jwk: fc.oneof(
      fc.constantFrom(...keys.map((k) => k.publicJwk)),
      fc.dictionary(
        fc.constantFrom('kty', 'crv', 'x', 'y', 'n', 'e', 'd', 'k'),
        fc.oneof(
          fc.string(),
          fc.constantFrom('EC', 'OKP', 'RSA', 'oct', 'P-256', 'Ed25519', 'AQAB'),
        ),
      ),
    ),
    crit: fc.array(fc.string(), { maxLength: 2 }),
    extra: jsonValue,
  },
  { requiredKeys: [] },
)
const randomClaims = fc.record(
  {
    jti: fc.oneof(fc.string({ maxLength: 600 }), jsonValue),
    htm: fc.oneof(fc.constantFrom('GET', 'POST', 'get'), jsonValue),
    htu: fc.oneof(
      fc.constantFrom(
        RS_REQUEST.url,
        'https://RESOURCE.example.org:443/protectedresource',
        'http://x/',
        '/rel',
      ),
      fc.webUrl(),
      jsonValue,
    ),
    iat: fc.oneof(fc.constantFrom(NOW, NOW - 61, NOW + 11), fc.double(), jsonValue),
    ath: fc.oneof(fc.string(), jsonValue),
    nonce: jsonValue,
  },
  { requiredKeys: [] },
)

interface RandomCase {
  proof: string
  signed: boolean
}

const randomInput: fc.Arbitrary<RandomCase> = fc.oneof(
  fc.string({ maxLength: 300 }).map((proof) => ({ proof, signed: false })),
  fc.string({ unit: 'binary', maxLength: 300 }).map((proof) => ({ proof, signed: false })),
  fc
    .array(fc.string({ unit: fc.constantFrom(...`${ALPHABET}=+/.`.split('')), maxLength: 120 }), {
      minLength: 1,
      maxLength: 5,
    })
    .map((parts) => ({
      proof: parts.join('.'),
      signed: false,
    })),
  fc
    .array(fc.uint8Array({ maxLength: 200 }), { minLength: 3, maxLength: 3 })
    .map((parts) => ({ proof: parts.map(b64uOf).join('.'), signed: false })),
  fc
    .tuple(
      fc.oneof(jsonValue, fc.object()),
      fc.oneof(jsonValue, fc.object()),
      fc.uint8Array({ maxLength: 300 }),
    )
    .map(([h, pl, sig]) => ({
      proof: `${b64u(JSON.stringify(h) ?? 'null')}.${b64u(JSON.stringify(pl) ?? 'null')}.${b64uOf(sig)}`,
      signed: false,
    })),
  // realistic-looking headers and claims, signed by a real key: reaches the claim checks
  fc
    .tuple(randomHeader, randomClaims, fc.nat({ max: keys.length - 1 }), fc.boolean())
    .map(([h, c, k, sign]) => {
      const hSeg = encodePart(h)
      const pSeg = encodePart(c)
      return sign
        ? { proof: signEncoded(hSeg, pSeg, keys[k]!), signed: true }
        : { proof: `${hSeg}.${pSeg}.${b64u(new Uint8Array(64))}`, signed: false }
    }),
)

// --- (c) strict base64url
/** Spellings of the same segment bytes that a lenient decoder would accept. */
function nonCanonicalSpellings(segment: string): string[] {
  const out = [`${segment}=`, `${segment}==`, ` ${segment}`]
  const rem = segment.length % 4
  if (rem === 2 || rem === 3) {
    const last = ALPHABET.indexOf(segment.at(-1)!)
    const spare = rem === 2 ? 0b1111 : 0b11
    for (let bits = 1; bits <= spare; bits++) out.push(segment.slice(0, -1) + ALPHABET[last | bits])
    out.push(`${segment}${'='.repeat(4 - rem)}`)
  }
  if (/[-_]/.test(segment)) out.push(segment.replace(/-/g, '+').replace(/_/g, '/'))
  return out
}

describe.each(backends)(
  `properties ($name backend): ${TOTAL.toLocaleString('en')} fast-check cases per backend`,
  ({ core }) => {
    const verify = (proof: string, options: Record<string, unknown> = {}) =>
      core.verifyProof(proof, RS_REQUEST, { ...OPTIONS, ...options })

    it('the base proofs are accepted (so every rejection below is caused by the mutation)', async () => {
      for (let i = 0; i < keys.length; i++)
        await expect(verify(baseProof(i))).resolves.toBeDefined()
    })

    it(`(a) a valid proof with any single mutation is never accepted (${RUNS.mutations} runs)`, async () => {
      const bases = keys.map((_, i) => baseProof(i))
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: keys.length - 1 }), mutation, async (k, mutate) => {
          const mutated = mutate(bases[k]!, k)
          fc.pre(mutated !== bases[k])
          expectDPoPError(core, await settle(verify(mutated)))
        }),
        { numRuns: RUNS.mutations, seed: SEED },
      )
    })

    it(`(b) random strings, bytes and JSON produce nothing but a DPoPError (${RUNS.randomInput} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(randomInput, fc.boolean(), async ({ proof, signed }, withToken) => {
          const outcome = await settle(
            verify(proof, withToken ? { accessToken: ACCESS_TOKEN } : {}),
          )
          if (outcome.ok) {
            // only a really signed proof with valid claims may pass
            expect(signed).toBe(true)
          } else {
            expectDPoPError(core, outcome)
          }
        }),
        { numRuns: RUNS.randomInput, seed: SEED },
      )
    })

    it(`(c) canonical base64url of any payload round-trips (${RUNS.canonical} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.nat({ max: keys.length - 1 }),
          async (x, k) => {
            const claims = proofClaims(NOW, { x })
            const proof = signEncoded(
              encodePart(proofHeader(keys[k]!)),
              encodePart(claims),
              keys[k]!,
            )
            const result = await verify(proof)
            expect(result.claims.x).toBe(x)
            expect(result.claims.jti).toBe(claims.jti)
          },
        ),
        { numRuns: RUNS.canonical, seed: SEED },
      )
    })

    it(`(c) every non-canonical spelling of the same bytes is refused, even with a valid signature (${RUNS.nonCanonical} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.string({ maxLength: 40 }),
          fc.uint8Array({ minLength: 64, maxLength: 64 }),
          async (x, randomSignature) => {
            const key = keys[0]!
            const h = encodePart(proofHeader(key))
            const pl = encodePart(proofClaims(NOW, { x }))
            // payload spelled non-canonically, signature valid over that exact text
            for (const spelling of nonCanonicalSpellings(pl)) {
              if (spelling.length % 4 !== 1)
                expect(fromB64u(spelling.trim()).equals(fromB64u(pl))).toBe(true)
              const outcome = await settle(verify(signEncoded(h, spelling, key)))
              expectDPoPError(core, outcome)
              expect((outcome as { error?: unknown }).error).toMatchObject({
                code: 'ERR_DPOP_PROOF_MALFORMED',
              })
            }
            // signature spelled non-canonically (valid signature bytes)
            const proof = signEncoded(h, pl, key)
            const s = proof.slice(proof.lastIndexOf('.') + 1)
            for (const spelling of nonCanonicalSpellings(s)) {
              await expect(verify(`${h}.${pl}.${spelling}`)).rejects.toMatchObject({
                code: 'ERR_DPOP_PROOF_MALFORMED',
              })
            }
            // canonical but wrong signature bytes: a signature failure, not a parse failure
            await expect(verify(`${h}.${pl}.${b64u(randomSignature)}`)).rejects.toMatchObject({
              code: 'ERR_DPOP_SIGNATURE_INVALID',
            })
            await expect(verify(proof)).resolves.toBeDefined()
          },
        ),
        { numRuns: RUNS.nonCanonical, seed: SEED },
      )
    })
  },
)
