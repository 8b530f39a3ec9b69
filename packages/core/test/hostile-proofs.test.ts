import { generateKeyPairSync } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { backends, type CoreModule } from './support/backends.js'
import {
  ACCESS_TOKEN,
  ALL_ALGS,
  ATH,
  b64u,
  compact,
  encodePart,
  fromB64u,
  handProof,
  hmacB64u,
  newJti,
  proofClaims,
  proofHeader,
  publicMembers,
  RS_REQUEST,
  RS_URL,
  sha256b64u,
  signEncoded,
  signRaw,
  testKey,
  type TestKey,
} from './support/jws.js'

// A pinned clock keeps the time-window cases exact (no ms rounding at the boundaries).
const NOW = 1_750_000_000
const NOW_MS = NOW * 1000
const SECRET = 'hostile-proofs-nonce-secret-0123456789abcdef'

const es = testKey('ES256')
const es2 = testKey('ES256')
const es384 = testKey('ES384')
const rsa = testKey('RS256')
const ps: TestKey = { ...rsa, alg: 'PS256' }
const ed = testKey('EdDSA')
const rsa1024 = testKey('RS256', 1024)
const rsa2047 = testKey('RS256', 2047)

// A P-256 key whose x starts with a zero octet: its 31-byte spelling names the same point, so a
// lenient JWK parser would accept the proof; RFC 7518 §6.2.1.2 requires full-length coordinates.
let esShortX = testKey('ES256')
while (fromB64u(esShortX.publicJwk.x!)[0] !== 0) esShortX = testKey('ES256')

const ed448 = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('ed448')
  return { privateKey, publicJwk: publicMembers(publicKey.export({ format: 'jwk' })) }
})()
const x25519Jwk = publicMembers(generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }))

const p = (
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key: TestKey = es,
) => handProof(key, NOW, claims, header)

/** Re-signs a proof's header and payload (which may be any text) with ES256 `es`. */
const raw = (
  headerText: string | Uint8Array,
  payloadText: string | Uint8Array,
  key: TestKey = es,
) => signEncoded(encodePart(headerText), encodePart(payloadText), key)

const headerText = (key: TestKey = es) => JSON.stringify(proofHeader(key))
const claimsText = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify(proofClaims(NOW, overrides))
const jsonBody = (text: string) => text.slice(1, -1) // members of an object, without the braces

const split = (proof: string) => proof.split('.') as [string, string, string]

/** Sets the spare low bits of the last character (only for lengths 2 or 3 mod 4). */
function strayBits(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  if (segment.length % 4 !== 2 && segment.length % 4 !== 3) throw new Error('no spare bits')
  const last = alphabet.indexOf(segment.at(-1)!)
  return segment.slice(0, -1) + alphabet[last | 1]
}

/** A payload segment whose length leaves spare bits in its last character. */
function payloadWithSpareBits(): string {
  for (let pad = 0; ; pad++) {
    const segment = encodePart(proofClaims(NOW, { pad: 'x'.repeat(pad) }))
    if (segment.length % 4 !== 0) return segment
  }
}

/**
 * A payload segment with '-' or '_' in it (so its standard-base64 spelling differs). For ASCII
 * JSON only a third byte of '>', '?' or '~' encodes to 62/63, so put three '~' in a row.
 */
function payloadWithUrlSafeChars(): string {
  const segment = encodePart(proofClaims(NOW, { x: '~~~' }))
  if (!/[-_]/.test(segment)) throw new Error('expected a - or _ in the segment')
  return segment
}

/** RFC 7638 thumbprint of an EC test key, computed here (not by the library). */
const jktOf = (key: TestKey) =>
  sha256b64u(
    JSON.stringify({ crv: key.publicJwk.crv, kty: 'EC', x: key.publicJwk.x, y: key.publicJwk.y }),
  )

/** A valid proof whose signature contains '-' or '_' (so a standard-base64 spelling differs). */
function proofWithUrlSafeChars(): string {
  for (;;) {
    const proof = p()
    if (/[-_]/.test(split(proof)[2])) return proof
  }
}

interface Ctx {
  core: CoreModule
  rsNonces: ReturnType<CoreModule['createNonceSource']>
  asNonces: ReturnType<CoreModule['createNonceSource']>
}

interface HostileCase {
  name: string
  proof: (ctx: Ctx) => string | Promise<string>
  request?: { method: string; url: string }
  options?: (ctx: Ctx) => Record<string, unknown>
  code: string
  claim?: string
}

const MALFORMED = 'ERR_DPOP_PROOF_MALFORMED'
const HEADER = 'ERR_DPOP_HEADER_INVALID'
const SIGNATURE = 'ERR_DPOP_SIGNATURE_INVALID'
const CLAIM_INVALID = 'ERR_DPOP_CLAIM_INVALID'
const MISMATCH = 'ERR_DPOP_CLAIM_MISMATCH'
const IAT = 'ERR_DPOP_IAT_OUT_OF_WINDOW'
const NONCE = 'ERR_DPOP_NONCE_REQUIRED'

const withNonces = (ctx: Ctx) => ({ nonce: ctx.rsNonces })

const hostile: HostileCase[] = [
  // --- alg (§4.2, §4.3 item 5, §11.6)
  {
    name: 'alg none, empty signature',
    proof: () => `${encodePart(proofHeader(es, { alg: 'none' }))}.${encodePart(proofClaims(NOW))}.`,
    code: HEADER,
    claim: 'alg',
  },
  {
    name: 'alg HS256 signed with the public JWK bytes as the HMAC secret',
    proof: () =>
      compact(proofHeader(es, { alg: 'HS256' }), proofClaims(NOW), (input) =>
        hmacB64u('sha256', JSON.stringify(es.publicJwk), input),
      ),
    code: HEADER,
    claim: 'alg',
  },
  {
    name: 'alg HS384',
    proof: () =>
      compact(proofHeader(es, { alg: 'HS384' }), proofClaims(NOW), (i) =>
        hmacB64u('sha384', 'k', i),
      ),
    code: HEADER,
    claim: 'alg',
  },
  {
    name: 'alg HS512',
    proof: () =>
      compact(proofHeader(es, { alg: 'HS512' }), proofClaims(NOW), (i) =>
        hmacB64u('sha512', 'k', i),
      ),
    code: HEADER,
    claim: 'alg',
  },
  {
    name: 'unregistered alg XS256',
    proof: () => p({}, { alg: 'XS256' }),
    code: HEADER,
    claim: 'alg',
  },
  {
    name: 'alg ES256K (unsupported)',
    proof: () => p({}, { alg: 'ES256K' }),
    code: HEADER,
    claim: 'alg',
  },
  {
    name: 'alg es256 (alg names are case-sensitive)',
    proof: () => p({}, { alg: 'es256' }),
    code: HEADER,
    claim: 'alg',
  },
  { name: 'alg missing', proof: () => p({}, { alg: undefined }), code: HEADER, claim: 'alg' },
  { name: 'alg as an array', proof: () => p({}, { alg: ['ES256'] }), code: HEADER, claim: 'alg' },
  {
    name: 'alg not in the `algorithms` allow-list',
    proof: () => p(),
    options: () => ({ algorithms: ['PS256', 'EdDSA'] }),
    code: HEADER,
    claim: 'alg',
  },
  // --- jwk must fit alg, be public, canonical and strong (§4.2, §4.3 item 7, RFC 7518)
  {
    name: 'RSA key with alg ES256 (signed RS256)',
    proof: () => compact(proofHeader(rsa, { alg: 'ES256' }), proofClaims(NOW), rsa),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'P-384 key with alg ES256 (crv mismatch)',
    proof: () =>
      compact(proofHeader(es384, { alg: 'ES256' }), proofClaims(NOW), {
        alg: 'ES256',
        key: es384.privateKey,
      }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'P-256 key with alg ES384 (crv mismatch)',
    proof: () =>
      compact(proofHeader(es, { alg: 'ES384' }), proofClaims(NOW), {
        alg: 'ES384',
        key: es.privateKey,
      }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'EC key with alg EdDSA',
    proof: () => p({}, { alg: 'EdDSA' }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'Ed25519 key with alg ES256',
    proof: () => compact(proofHeader(ed, { alg: 'ES256' }), proofClaims(NOW), ed),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'P-256 point not on the curve',
    proof: () => {
      const y = fromB64u(es.publicJwk.y!)
      y[31]! ^= 1
      return p({}, { jwk: { ...es.publicJwk, y: b64u(y) } })
    },
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: '31-byte x coordinate (same point, non-canonical)',
    proof: () =>
      p(
        {},
        { jwk: { ...esShortX.publicJwk, x: b64u(fromB64u(esShortX.publicJwk.x!).subarray(1)) } },
        esShortX,
      ),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: '33-byte x coordinate (leading zero added)',
    proof: () =>
      p(
        {},
        {
          jwk: {
            ...es.publicJwk,
            x: b64u(Buffer.concat([Buffer.alloc(1), fromB64u(es.publicJwk.x!)])),
          },
        },
      ),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'EC coordinate with padding',
    proof: () => p({}, { jwk: { ...es.publicJwk, x: `${es.publicJwk.x}=` } }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'EC key without y',
    proof: () => p({}, { jwk: { ...es.publicJwk, y: undefined } }),
    code: HEADER,
    claim: 'jwk',
  },
  { name: 'RSA 1024-bit key', proof: () => p({}, {}, rsa1024), code: HEADER, claim: 'jwk' },
  { name: 'RSA 2047-bit key', proof: () => p({}, {}, rsa2047), code: HEADER, claim: 'jwk' },
  {
    name: 'RSA n with a leading zero octet',
    proof: () =>
      p(
        {},
        {
          jwk: {
            ...rsa.publicJwk,
            n: b64u(Buffer.concat([Buffer.alloc(1), fromB64u(rsa.publicJwk.n!)])),
          },
        },
        rsa,
      ),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'RSA e with a leading zero octet',
    proof: () => p({}, { jwk: { ...rsa.publicJwk, e: 'AAEAAQ' } }, rsa),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'EC jwk with private d',
    proof: () => p({}, { jwk: { ...es.publicJwk, d: es.privateJwk.d } }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'OKP jwk with private d',
    proof: () => p({}, { jwk: { ...ed.publicJwk, d: ed.privateJwk.d } }, ed),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'RSA jwk with d, p, q, dp, dq, qi',
    proof: () => p({}, { jwk: rsa.privateJwk }, rsa),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'RSA jwk with only p',
    proof: () => p({}, { jwk: { ...rsa.publicJwk, p: rsa.privateJwk.p } }, rsa),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'RSA jwk with oth',
    proof: () => p({}, { jwk: { ...rsa.publicJwk, oth: [] } }, rsa),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'kty oct with k',
    proof: () => p({}, { jwk: { kty: 'oct', k: b64u('secret-secret-secret-secret-32by') } }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'kty oct without k',
    proof: () => p({}, { jwk: { kty: 'oct' } }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'Ed448 OKP key with EdDSA (only Ed25519 is allowed)',
    proof: () =>
      compact(proofHeader(ed, { jwk: ed448.publicJwk }), proofClaims(NOW), (i) =>
        signRaw('EdDSA', ed448.privateKey, i),
      ),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'X25519 OKP key (key agreement, not signing)',
    proof: () => p({}, { jwk: x25519Jwk }, ed),
    code: HEADER,
    claim: 'jwk',
  },
  { name: 'jwk missing', proof: () => p({}, { jwk: undefined }), code: HEADER, claim: 'jwk' },
  {
    name: 'jwk as a string',
    proof: () => p({}, { jwk: JSON.stringify(es.publicJwk) }),
    code: HEADER,
    claim: 'jwk',
  },
  {
    name: 'jwk as an array',
    proof: () => p({}, { jwk: [es.publicJwk] }),
    code: HEADER,
    claim: 'jwk',
  },
  // --- typ (§4.2, §4.3 item 4, §11.5) and crit (RFC 7515 §4.1.11)
  { name: 'typ missing', proof: () => p({}, { typ: undefined }), code: HEADER, claim: 'typ' },
  { name: 'typ JWT', proof: () => p({}, { typ: 'JWT' }), code: HEADER, claim: 'typ' },
  { name: 'typ at+jwt', proof: () => p({}, { typ: 'at+jwt' }), code: HEADER, claim: 'typ' },
  {
    name: 'typ dpop+jwt+wrongyousee',
    proof: () => p({}, { typ: 'dpop+jwt+wrongyousee' }),
    code: HEADER,
    claim: 'typ',
  },
  {
    name: 'typ "dpop+jwt " (trailing space)',
    proof: () => p({}, { typ: 'dpop+jwt ' }),
    code: HEADER,
    claim: 'typ',
  },
  {
    name: 'typ application/jwt',
    proof: () => p({}, { typ: 'application/jwt' }),
    code: HEADER,
    claim: 'typ',
  },
  {
    name: 'typ as an array',
    proof: () => p({}, { typ: ['dpop+jwt'] }),
    code: HEADER,
    claim: 'typ',
  },
  {
    name: 'crit present (["exp"])',
    proof: () => p({}, { crit: ['exp'], exp: NOW + 60 }),
    code: HEADER,
    claim: 'crit',
  },
  { name: 'crit present but empty', proof: () => p({}, { crit: [] }), code: HEADER, claim: 'crit' },
  {
    name: 'b64:false with crit (RFC 7797)',
    proof: () => p({}, { b64: false, crit: ['b64'] }),
    code: HEADER,
    claim: 'crit',
  },
  {
    name: 'F9: ID-token-like JWT (typ JWT, jwk header) signed by the same key',
    proof: () =>
      compact(
        { alg: 'ES256', typ: 'JWT', kid: 'k1', jwk: es.publicJwk },
        {
          iss: 'https://server.example.com',
          sub: 'alice',
          aud: 'client',
          exp: NOW + 300,
          iat: NOW,
          jti: newJti(),
          htm: 'GET',
          htu: RS_URL,
        },
        es,
      ),
    code: HEADER,
    claim: 'typ',
  },
  {
    name: 'F9: private_key_jwt client assertion (no typ) signed by the same key',
    proof: () =>
      compact(
        { alg: 'ES256', jwk: es.publicJwk },
        { iss: 'c', sub: 'c', aud: RS_URL, jti: newJti(), exp: NOW + 60, iat: NOW },
        es,
      ),
    code: HEADER,
    claim: 'typ',
  },
  {
    name: 'F9: JAR request object (typ oauth-authz-req+jwt)',
    proof: () => p({}, { typ: 'oauth-authz-req+jwt' }),
    code: HEADER,
    claim: 'typ',
  },
  // --- compact serialization and strict base64url (§4.3 item 2, RFC 7515 §2)
  {
    name: 'header with = padding',
    proof: () => {
      const [h, pl] = split(p())
      return signEncoded(`${h}=`, pl, es)
    },
    code: MALFORMED,
  },
  {
    name: 'payload with = padding',
    proof: () => {
      const [h, pl] = split(p())
      return signEncoded(h, `${pl}==`, es)
    },
    code: MALFORMED,
  },
  { name: 'signature with = padding', proof: () => `${p()}==`, code: MALFORMED },
  {
    name: 'signature in standard base64 (+ and /)',
    proof: () => {
      const [h, pl, s] = split(proofWithUrlSafeChars())
      return `${h}.${pl}.${s.replace(/-/g, '+').replace(/_/g, '/')}`
    },
    code: MALFORMED,
  },
  {
    name: 'payload in standard base64 (+ and /), re-signed',
    proof: () =>
      signEncoded(
        encodePart(proofHeader(es)),
        payloadWithUrlSafeChars().replace(/-/g, '+').replace(/_/g, '/'),
        es,
      ),
    code: MALFORMED,
  },
  {
    name: 'signature with stray trailing bits (same bytes for a lenient decoder)',
    proof: () => {
      const [h, pl, s] = split(p())
      return `${h}.${pl}.${strayBits(s)}`
    },
    code: MALFORMED,
  },
  {
    name: 'payload with stray trailing bits, re-signed',
    proof: () => signEncoded(encodePart(proofHeader(es)), strayBits(payloadWithSpareBits()), es),
    code: MALFORMED,
  },
  { name: 'signature length % 4 == 1', proof: () => p().slice(0, -1), code: MALFORMED },
  {
    name: 'payload length % 4 == 1, re-signed',
    proof: () => {
      const [h, pl] = split(p())
      return signEncoded(h, pl + 'A'.repeat((5 - (pl.length % 4)) % 4 || 1), es)
    },
    code: MALFORMED,
  },
  { name: 'two segments', proof: () => split(p()).slice(0, 2).join('.'), code: MALFORMED },
  { name: 'four segments', proof: () => `${p()}.${b64u('x')}`, code: MALFORMED },
  {
    name: 'five segments (JWE compact shape)',
    proof: () =>
      `${encodePart({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${b64u('k')}.${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`,
    code: MALFORMED,
  },
  { name: 'empty string', proof: () => '', code: MALFORMED },
  { name: 'two dots only', proof: () => '..', code: MALFORMED },
  { name: 'leading whitespace', proof: () => ` ${p()}`, code: MALFORMED },
  { name: 'trailing newline', proof: () => `${p()}\n`, code: MALFORMED },
  {
    name: 'B1 (core part): two proofs joined with ", "',
    proof: () => `${p()}, ${p()}`,
    code: MALFORMED,
  },
  {
    name: 'JWS JSON serialization',
    proof: () => {
      const [h, pl, s] = split(p())
      return JSON.stringify({ protected: h, payload: pl, signature: s })
    },
    code: MALFORMED,
  },
  {
    name: 'longer than 8 KiB (valid signature)',
    proof: () => p({ pad: 'x'.repeat(8192) }),
    code: MALFORMED,
  },
  {
    name: 'non-ASCII character in the payload segment',
    proof: () => {
      const [h, pl, s] = split(p())
      return `${h}.${pl}é.${s}`
    },
    code: MALFORMED,
  },
  // --- strict JSON (RFC 7515 §4, RFC 8259)
  {
    name: 'duplicate header member typ',
    proof: () =>
      raw(
        `{"typ":"dpop+jwt","typ":"JWT",${jsonBody(headerText()).replace('"typ":"dpop+jwt",', '')}}`,
        claimsText(),
      ),
    code: MALFORMED,
  },
  {
    name: 'duplicate header member alg (identical values)',
    proof: () => raw(`{"alg":"ES256",${jsonBody(headerText())}}`, claimsText()),
    code: MALFORMED,
  },
  {
    name: 'duplicate claim htu',
    proof: () => raw(headerText(), `{"htu":"https://evil.example/x",${jsonBody(claimsText())}}`),
    code: MALFORMED,
  },
  {
    name: 'duplicate claim via \\u escape (h\\u0074u)',
    proof: () =>
      raw(headerText(), `{"h\\u0074u":"https://evil.example/x",${jsonBody(claimsText())}}`),
    code: MALFORMED,
  },
  {
    name: 'duplicate nested member (jwk.x twice)',
    proof: () => raw(headerText().replace('"x":', `"x":"${es2.publicJwk.x}","x":`), claimsText()),
    code: MALFORMED,
  },
  {
    name: 'duplicate __proto__ claim',
    proof: () =>
      raw(headerText(), `{"__proto__":{},"__proto__":{"htm":"GET"},${jsonBody(claimsText())}}`),
    code: MALFORMED,
  },
  {
    name: '__proto__ claim cannot supply a missing htm',
    proof: () =>
      raw(headerText(), `{"__proto__":{"htm":"GET"},${jsonBody(claimsText({ htm: undefined }))}}`),
    code: CLAIM_INVALID,
    claim: 'htm',
  },
  {
    name: 'BOM before the header JSON',
    proof: () =>
      raw(
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(headerText())]),
        claimsText(),
      ),
    code: MALFORMED,
  },
  {
    name: 'BOM before the payload JSON',
    proof: () =>
      raw(
        headerText(),
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(claimsText())]),
      ),
    code: MALFORMED,
  },
  {
    name: 'invalid UTF-8 in a claim string',
    proof: () =>
      raw(
        headerText(),
        Buffer.concat([
          Buffer.from(`${claimsText().slice(0, -1)},"x":"`),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('"}'),
        ]),
      ),
    code: MALFORMED,
  },
  {
    name: 'overlong UTF-8 (C0 AF)',
    proof: () =>
      raw(
        headerText(),
        Buffer.concat([
          Buffer.from(`${claimsText().slice(0, -1)},"x":"`),
          Buffer.from([0xc0, 0xaf]),
          Buffer.from('"}'),
        ]),
      ),
    code: MALFORMED,
  },
  {
    name: 'UTF-8 encoded surrogate (ED A0 80)',
    proof: () =>
      raw(
        headerText(),
        Buffer.concat([
          Buffer.from(`${claimsText().slice(0, -1)},"x":"`),
          Buffer.from([0xed, 0xa0, 0x80]),
          Buffer.from('"}'),
        ]),
      ),
    code: MALFORMED,
  },
  {
    name: 'payload is a JSON array',
    proof: () => raw(headerText(), JSON.stringify([proofClaims(NOW)])),
    code: MALFORMED,
  },
  {
    name: 'payload is a JSON string',
    proof: () => raw(headerText(), JSON.stringify(claimsText())),
    code: MALFORMED,
  },
  { name: 'payload is null', proof: () => raw(headerText(), 'null'), code: MALFORMED },
  {
    name: 'header is a JSON array',
    proof: () => raw(JSON.stringify([proofHeader(es)]), claimsText()),
    code: MALFORMED,
  },
  {
    name: 'trailing garbage after the payload JSON',
    proof: () => raw(headerText(), `${claimsText()}x`),
    code: MALFORMED,
  },
  {
    name: 'second JSON value after the header',
    proof: () => raw(`${headerText()}{}`, claimsText()),
    code: MALFORMED,
  },
  {
    name: 'trailing comma in the payload',
    proof: () => raw(headerText(), `${claimsText().slice(0, -1)},}`),
    code: MALFORMED,
  },
  {
    name: 'single-quoted member name',
    proof: () => raw(headerText(), `{'x':1,${jsonBody(claimsText())}}`),
    code: MALFORMED,
  },
  {
    name: 'JSON comment in the header',
    proof: () => raw(`{/* c */${jsonBody(headerText())}}`, claimsText()),
    code: MALFORMED,
  },
  {
    name: 'number out of range (1e999)',
    proof: () => raw(headerText(), `${claimsText().slice(0, -1)},"x":1e999}`),
    code: MALFORMED,
  },
  {
    name: 'raw control character in a string',
    proof: () => raw(headerText(), `${claimsText().slice(0, -1)},"x":"a\u0001b"}`),
    code: MALFORMED,
  },
  {
    name: 'deep nesting (200 levels) in the payload',
    proof: () =>
      raw(headerText(), `${claimsText().slice(0, -1)},"x":${'['.repeat(200)}${']'.repeat(200)}}`),
    code: MALFORMED,
  },
  {
    name: 'deep nesting (100 objects) in the header',
    proof: () =>
      raw(
        `${headerText().slice(0, -1)},"x":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`,
        claimsText(),
      ),
    code: MALFORMED,
  },
  { name: 'payload not JSON at all', proof: () => raw(headerText(), 'hello'), code: MALFORMED },
  // --- required claims (§4.2, §4.3 item 3)
  { name: 'missing jti', proof: () => p({ jti: undefined }), code: CLAIM_INVALID, claim: 'jti' },
  { name: 'missing htm', proof: () => p({ htm: undefined }), code: CLAIM_INVALID, claim: 'htm' },
  { name: 'missing htu', proof: () => p({ htu: undefined }), code: CLAIM_INVALID, claim: 'htu' },
  { name: 'missing iat', proof: () => p({ iat: undefined }), code: CLAIM_INVALID, claim: 'iat' },
  {
    name: 'iat as a string',
    proof: () => p({ iat: String(NOW) }),
    code: CLAIM_INVALID,
    claim: 'iat',
  },
  { name: 'iat null', proof: () => p({ iat: null }), code: CLAIM_INVALID, claim: 'iat' },
  { name: 'jti empty', proof: () => p({ jti: '' }), code: CLAIM_INVALID, claim: 'jti' },
  { name: 'jti a number', proof: () => p({ jti: 12345 }), code: CLAIM_INVALID, claim: 'jti' },
  {
    name: 'jti too long (513 characters)',
    proof: () => p({ jti: 'j'.repeat(513) }),
    code: CLAIM_INVALID,
    claim: 'jti',
  },
  { name: 'htm as an array', proof: () => p({ htm: ['GET'] }), code: CLAIM_INVALID, claim: 'htm' },
  // --- htm / htu (§4.3 items 8, 9; B13, B16; §2 HTTPS only)
  {
    name: 'htm lowercase get on a GET',
    proof: () => p({ htm: 'get' }),
    code: MISMATCH,
    claim: 'htm',
  },
  { name: 'htm POST on a GET', proof: () => p({ htm: 'POST' }), code: MISMATCH, claim: 'htm' },
  {
    name: 'htm GET on a POST',
    proof: () => p(),
    request: { method: 'POST', url: RS_URL },
    code: MISMATCH,
    claim: 'htm',
  },
  {
    name: 'htu other host',
    proof: () => p({ htu: 'https://other.example.org/protectedresource' }),
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu other port (:8443)',
    proof: () => p({ htu: 'https://resource.example.org:8443/protectedresource' }),
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu other path',
    proof: () => p({ htu: 'https://resource.example.org/otherresource' }),
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu with a trailing slash',
    proof: () => p({ htu: `${RS_URL}/` }),
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu path case differs (/ProtectedResource)',
    proof: () => p({ htu: 'https://resource.example.org/ProtectedResource' }),
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu with an encoded slash (%2F is not /)',
    proof: () => p({ htu: 'https://resource.example.org/protected%2Fresource' }),
    request: { method: 'GET', url: 'https://resource.example.org/protected/resource' },
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu other scheme (http, insecure http allowed)',
    proof: () => p({ htu: 'http://resource.example.org/protectedresource' }),
    options: () => ({ allowInsecureHttp: true }),
    code: MISMATCH,
    claim: 'htu',
  },
  {
    name: 'htu plain http on a non-loopback host',
    proof: () => p({ htu: 'http://resource.example.org/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu with user info',
    proof: () => p({ htu: 'https://user:pass@resource.example.org/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu with an empty user info (@host)',
    proof: () => p({ htu: 'https://@resource.example.org/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu without // (https:host/path, repaired by WHATWG)',
    proof: () => p({ htu: 'https:resource.example.org/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu with three slashes (https:///host/path)',
    proof: () => p({ htu: 'https:///resource.example.org/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'relative htu',
    proof: () => p({ htu: '/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu with a space',
    proof: () => p({ htu: 'https://resource.example.org/protected resource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu with a backslash',
    proof: () => p({ htu: 'https://resource.example.org\\protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  {
    name: 'htu wss scheme',
    proof: () => p({ htu: 'wss://resource.example.org/protectedresource' }),
    code: CLAIM_INVALID,
    claim: 'htu',
  },
  { name: 'htu a number', proof: () => p({ htu: 443 }), code: CLAIM_INVALID, claim: 'htu' },
  // --- time window (§4.3 item 11, §11.1)
  { name: 'stale iat (now - 61)', proof: () => p({ iat: NOW - 61 }), code: IAT, claim: 'iat' },
  { name: 'future iat (now + 11)', proof: () => p({ iat: NOW + 11 }), code: IAT, claim: 'iat' },
  { name: 'iat now - 3600', proof: () => p({ iat: NOW - 3600 }), code: IAT, claim: 'iat' },
  { name: 'iat now + 3600', proof: () => p({ iat: NOW + 3600 }), code: IAT, claim: 'iat' },
  { name: 'iat in milliseconds', proof: () => p({ iat: NOW_MS }), code: IAT, claim: 'iat' },
  { name: 'iat 0', proof: () => p({ iat: 0 }), code: IAT, claim: 'iat' },
  {
    name: 'stale iat with a narrower maxAge (now - 31, maxAge 30)',
    proof: () => p({ iat: NOW - 31 }),
    options: () => ({ maxAge: 30 }),
    code: IAT,
    claim: 'iat',
  },
  // --- ath and key binding (§4.3 item 12, F12)
  {
    name: 'ath for another token',
    proof: () => p({ ath: sha256b64u('another-token') }),
    options: () => ({ accessToken: ACCESS_TOKEN }),
    code: MISMATCH,
    claim: 'ath',
  },
  {
    name: 'ath missing with a token',
    proof: () => p(),
    options: () => ({ accessToken: ACCESS_TOKEN }),
    code: CLAIM_INVALID,
    claim: 'ath',
  },
  {
    name: 'SHA-384-length ath (64 chars)',
    proof: () => p({ ath: b64u(Buffer.alloc(48, 7)) }),
    options: () => ({ accessToken: ACCESS_TOKEN }),
    code: MISMATCH,
    claim: 'ath',
  },
  {
    name: 'ath with padding',
    proof: () => p({ ath: `${ATH}=` }),
    options: () => ({ accessToken: ACCESS_TOKEN }),
    code: MISMATCH,
    claim: 'ath',
  },
  {
    name: 'ath as hex',
    proof: () => p({ ath: fromB64u(ATH).toString('hex') }),
    options: () => ({ accessToken: ACCESS_TOKEN }),
    code: MISMATCH,
    claim: 'ath',
  },
  {
    name: 'wrong expectedJkt (key B bound, key A signs)',
    proof: () => p({ ath: ATH }),
    options: () => ({ accessToken: ACCESS_TOKEN, expectedJkt: jktOf(es2) }),
    code: 'ERR_DPOP_KEY_BINDING_MISMATCH',
  },
  // --- nonces (§4.3 item 10, §8, §9)
  {
    name: 'nonce missing when required',
    proof: () => p(),
    options: withNonces,
    code: NONCE,
    claim: 'nonce',
  },
  {
    name: 'nonce differing by one character',
    proof: async (ctx) => {
      const n = await ctx.rsNonces.issueNonce()
      return p({ nonce: n.slice(0, -1) + (n.endsWith('A') ? 'B' : 'A') })
    },
    options: withNonces,
    code: NONCE,
    claim: 'nonce',
  },
  {
    name: 'nonce of the as purpose at an rs source',
    proof: async (ctx) => p({ nonce: await ctx.asNonces.issueNonce() }),
    options: withNonces,
    code: NONCE,
    claim: 'nonce',
  },
  {
    name: 'nonce from another secret',
    proof: async (ctx) =>
      p({
        nonce: await ctx.core
          .createNonceSource({ secret: `${SECRET}-other`, now: () => NOW_MS })
          .issueNonce(),
      }),
    options: withNonces,
    code: NONCE,
    claim: 'nonce',
  },
  {
    name: 'nonce two steps old',
    proof: async (ctx) =>
      p({
        nonce: await ctx.core
          .createNonceSource({ secret: SECRET, now: () => NOW_MS - 120_000 })
          .issueNonce(),
      }),
    options: withNonces,
    code: NONCE,
    claim: 'nonce',
  },
  {
    name: 'nonce as a number',
    proof: () => p({ nonce: 1 }),
    options: withNonces,
    code: NONCE,
    claim: 'nonce',
  },
  {
    name: 'nonce not the exact expected value',
    proof: () => p({ nonce: 'eyJ7S_zG.eyJH0-Z.HX4w-7w' }),
    options: () => ({ nonce: 'eyJ7S_zG.eyJH0-Z.HX4w-7v' }),
    code: NONCE,
    claim: 'nonce',
  },
  // --- signature (§4.3 item 6; key comes only from jwk)
  {
    name: 'signature byte flipped',
    proof: () => {
      const [h, pl, s] = split(p())
      const sig = fromB64u(s)
      sig[10]! ^= 0x01
      return `${h}.${pl}.${b64u(sig)}`
    },
    code: SIGNATURE,
  },
  {
    name: 'DER-encoded ECDSA signature',
    proof: () =>
      compact(proofHeader(es), proofClaims(NOW), { alg: 'ES256', key: es.privateKey, der: true }),
    code: SIGNATURE,
  },
  {
    name: 'signature of another proof',
    proof: () => {
      const [h, pl] = split(p())
      return `${h}.${pl}.${split(p())[2]}`
    },
    code: SIGNATURE,
  },
  { name: 'empty signature', proof: () => `${split(p()).slice(0, 2).join('.')}.`, code: SIGNATURE },
  {
    name: 'all-zero R||S',
    proof: () => `${split(p()).slice(0, 2).join('.')}.${b64u(Buffer.alloc(64))}`,
    code: SIGNATURE,
  },
  {
    name: 'signature truncated by one byte',
    proof: () => {
      const [h, pl, s] = split(p())
      return `${h}.${pl}.${b64u(fromB64u(s).subarray(1))}`
    },
    code: SIGNATURE,
  },
  {
    name: 'RSA signature with a leading zero byte added',
    proof: () => {
      const [h, pl, s] = split(p({}, {}, rsa))
      return `${h}.${pl}.${b64u(Buffer.concat([Buffer.alloc(1), fromB64u(s)]))}`
    },
    code: SIGNATURE,
  },
  {
    name: 'header says RS256, signature is PSS',
    proof: () =>
      compact(proofHeader(rsa, { alg: 'RS256' }), proofClaims(NOW), {
        alg: 'PS256',
        key: rsa.privateKey,
      }),
    code: SIGNATURE,
  },
  {
    name: 'header says PS256, signature is PKCS#1 v1.5',
    proof: () => compact(proofHeader(ps), proofClaims(NOW), { alg: 'RS256', key: rsa.privateKey }),
    code: SIGNATURE,
  },
  {
    name: 'header says ES384 for a P-384 key, signed with SHA-256',
    proof: () =>
      compact(proofHeader(es384), proofClaims(NOW), { alg: 'ES256', key: es384.privateKey }),
    code: SIGNATURE,
  },
  {
    name: 'kid present, jwk of another key (key A signs, jwk is B)',
    proof: () =>
      compact(proofHeader(es, { jwk: es2.publicJwk, kid: 'key-a' }), proofClaims(NOW), es),
    code: SIGNATURE,
  },
  {
    name: 'jku present, jwk of another key',
    proof: () =>
      compact(
        proofHeader(es, { jwk: es2.publicJwk, jku: 'https://attacker.example/jwks.json' }),
        proofClaims(NOW),
        es,
      ),
    code: SIGNATURE,
  },
  {
    name: 'x5u present, jwk of another key',
    proof: () =>
      compact(
        proofHeader(es, { jwk: es2.publicJwk, x5u: 'https://attacker.example/cert.pem' }),
        proofClaims(NOW),
        es,
      ),
    code: SIGNATURE,
  },
  {
    name: 'x5c present, jwk of another key',
    proof: () =>
      compact(
        proofHeader(es, { jwk: es2.publicJwk, x5c: ['MIIBkTCB+wIJAK'] }),
        proofClaims(NOW),
        es,
      ),
    code: SIGNATURE,
  },
  {
    name: 'valid header and signature of key A, payload re-signed by key B',
    proof: () => {
      const [h, pl] = split(p())
      return signEncoded(h, pl, es2)
    },
    code: SIGNATURE,
  },
]

describe.each(backends)('hostile proofs ($name backend)', ({ core }) => {
  let ctx: Ctx
  beforeAll(() => {
    ctx = {
      core,
      rsNonces: core.createNonceSource({ secret: SECRET, purpose: 'rs', now: () => NOW_MS }),
      asNonces: core.createNonceSource({ secret: SECRET, purpose: 'as', now: () => NOW_MS }),
    }
  })

  it(`has at least 60 distinct hostile cases (${hostile.length})`, () => {
    expect(hostile.length).toBeGreaterThanOrEqual(60)
    expect(new Set(hostile.map((c) => c.name)).size).toBe(hostile.length)
  })

  it.each(hostile)('rejects: $name → $code', async (c) => {
    const proof = await c.proof(ctx)
    const expected: Record<string, unknown> = { code: c.code }
    if (c.claim !== undefined) expected.claim = c.claim
    const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
    const error = await core
      .verifyProof(proof, c.request ?? RS_REQUEST, {
        replayStore,
        now: () => NOW_MS,
        ...c.options?.(ctx),
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toBeInstanceOf(core.DPoPError)
    expect(error).toMatchObject(expected)
    // A rejected proof never uses up its jti (the replay store is written last).
    expect(replayStore.size).toBe(0)
  })

  it('rejects a replayed proof (same jkt and jti) → ERR_DPOP_REPLAYED', async () => {
    const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
    const proof = p()
    const options = { replayStore, now: () => NOW_MS }
    await expect(core.verifyProof(proof, RS_REQUEST, options)).resolves.toMatchObject({
      jkt: expect.any(String),
    })
    await expect(core.verifyProof(proof, RS_REQUEST, options)).rejects.toMatchObject({
      code: 'ERR_DPOP_REPLAYED',
      claim: 'jti',
    })
    // Another proof with the same key and jti (different iat) is a replay too.
    const sameJti = p({
      jti: (JSON.parse(fromB64u(split(proof)[1]).toString()) as { jti: string }).jti,
      iat: NOW - 1,
    })
    await expect(core.verifyProof(sameJti, RS_REQUEST, options)).rejects.toMatchObject({
      code: 'ERR_DPOP_REPLAYED',
    })
  })

  it('rejects a proof whose signature verifies under a lenient base64url decoder (stray bits) but accepts the canonical one', async () => {
    const proof = p()
    const [h, pl, s] = split(proof)
    const options = { replayStore: false as const, now: () => NOW_MS }
    await expect(
      core.verifyProof(`${h}.${pl}.${strayBits(s)}`, RS_REQUEST, options),
    ).rejects.toMatchObject({ code: MALFORMED })
    expect(fromB64u(strayBits(s)).equals(fromB64u(s))).toBe(true)
    await expect(core.verifyProof(proof, RS_REQUEST, options)).resolves.toBeDefined()
  })

  // A decoder that reads each character by its low byte takes U+0141 for 'A' (0x41). The proofs
  // below are valid for such a decoder: the signature decodes to the same bytes, and the payload
  // is signed over the low bytes of its characters (what `signRaw` signs for a string).
  it('rejects characters above U+00FF that a byte-wise decoder reads as alphabet letters, in the payload and in the signature', async () => {
    const options = { replayStore: false as const, now: () => NOW_MS }
    const widen = (segment: string, at: number): string =>
      segment.slice(0, at) +
      String.fromCharCode(segment.charCodeAt(at) + 0x100) +
      segment.slice(at + 1)
    const proof = p()
    const [h, pl, s] = split(proof)
    expect(Buffer.from(widen(s, 5), 'base64url').equals(fromB64u(s))).toBe(true)
    for (const at of [0, 5, s.length - 1]) {
      await expect(
        core.verifyProof(`${h}.${pl}.${widen(s, at)}`, RS_REQUEST, options),
      ).rejects.toMatchObject({
        code: MALFORMED,
        reason: 'not base64url',
        details: { segment: 'signature' },
      })
    }
    for (const at of [0, 7, pl.length - 1]) {
      await expect(
        core.verifyProof(signEncoded(h, widen(pl, at), es), RS_REQUEST, options),
      ).rejects.toMatchObject({
        code: MALFORMED,
        reason: 'not base64url',
        details: { segment: 'payload' },
      })
    }
    await expect(core.verifyProof(proof, RS_REQUEST, options)).resolves.toBeDefined()
  })

  it('rejects characters outside the alphabet inside a segment (which a lenient decoder skips), replacing one character or added', async () => {
    const options = { replayStore: false as const, now: () => NOW_MS }
    const [h, pl, s] = split(p())
    for (const stray of [' ', '!', '*', '\u0000', '\u00e9', '\u00ff', '\u0100', '\ud83d']) {
      const replaced = (segment: string): string => segment.slice(0, 9) + stray + segment.slice(10)
      const added = (segment: string): string => segment.slice(0, 9) + stray + segment.slice(9)
      for (const spell of [replaced, added]) {
        await expect(
          core.verifyProof(`${h}.${pl}.${spell(s)}`, RS_REQUEST, options),
        ).rejects.toMatchObject({
          code: MALFORMED,
          reason: 'not base64url',
          details: { segment: 'signature' },
        })
        await expect(
          core.verifyProof(signEncoded(h, spell(pl), es), RS_REQUEST, options),
        ).rejects.toMatchObject({
          code: MALFORMED,
          reason: 'not base64url',
          details: { segment: 'payload' },
        })
      }
    }
  })
})

interface AcceptedCase {
  name: string
  proof: (ctx: Ctx) => string | Promise<string>
  request?: { method: string; url: string | URL }
  options?: (ctx: Ctx) => Record<string, unknown>
  check?: (result: Awaited<ReturnType<CoreModule['verifyProof']>>) => void
}

const accepted: AcceptedCase[] = [
  { name: 'baseline ES256 proof', proof: () => p() },
  { name: 'typ application/dpop+jwt', proof: () => p({}, { typ: 'application/dpop+jwt' }) },
  { name: 'typ DPOP+JWT (case-insensitive)', proof: () => p({}, { typ: 'DPOP+JWT' }) },
  { name: 'typ Application/DPoP+JWT', proof: () => p({}, { typ: 'Application/DPoP+JWT' }) },
  {
    name: 'A14: extra header parameter and claims',
    proof: () => p({ tx: 'abc', nested: { a: [1, 2] } }, { foo: 'bar' }),
    check: (r) => {
      expect(r.claims.tx).toBe('abc')
      expect(r.header.foo).toBe('bar')
    },
  },
  { name: 'A14: kid naming the proof key itself', proof: () => p({}, { kid: 'my-key' }) },
  {
    name: 'single __proto__ claim is plain data (no prototype change)',
    proof: () => raw(headerText(), `{"__proto__":{"polluted":true},${jsonBody(claimsText())}}`),
    check: (r) => {
      expect(Object.getPrototypeOf(r.claims)).toBe(Object.prototype)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    },
  },
  {
    name: 'B13: HTTPS://RESOURCE.EXAMPLE.ORG/protectedresource',
    proof: () => p({ htu: 'HTTPS://RESOURCE.EXAMPLE.ORG/protectedresource' }),
  },
  {
    name: 'B13: explicit default port :443',
    proof: () => p({ htu: 'https://resource.example.org:443/protectedresource' }),
  },
  {
    name: 'B13: /%70rotectedresource (unreserved escape)',
    proof: () => p({ htu: 'https://resource.example.org/%70rotectedresource' }),
  },
  {
    name: 'B16: empty port',
    proof: () => p({ htu: 'https://resource.example.org:/protectedresource' }),
  },
  {
    name: 'B16: dot segments removed',
    proof: () => p({ htu: 'https://resource.example.org/a/../protectedresource' }),
  },
  {
    name: 'B16: lower-case %xx equals upper-case',
    proof: () => p({ htu: 'https://resource.example.org/a%2fb' }),
    request: { method: 'GET', url: 'https://resource.example.org/a%2Fb' },
  },
  {
    name: 'B16: empty path equals /',
    proof: () => p({ htu: 'https://resource.example.org' }),
    request: { method: 'GET', url: 'https://resource.example.org/' },
  },
  { name: 'htu with query and fragment (ignored)', proof: () => p({ htu: `${RS_URL}?a=1#frag` }) },
  {
    name: 'request URL object with a query',
    proof: () => p(),
    request: { method: 'GET', url: new URL(`${RS_URL}?page=2`) },
  },
  {
    name: 'plain http on loopback',
    proof: () => p({ htu: 'http://127.0.0.1:8080/x' }),
    request: { method: 'GET', url: 'http://127.0.0.1:8080/x' },
  },
  {
    name: 'plain http with allowInsecureHttp',
    proof: () => p({ htu: 'http://resource.example.org/protectedresource' }),
    request: { method: 'GET', url: 'http://resource.example.org/protectedresource' },
    options: () => ({ allowInsecureHttp: true }),
  },
  { name: 'iat now - 10', proof: () => p({ iat: NOW - 10 }) },
  { name: 'iat now + 8', proof: () => p({ iat: NOW + 8 }) },
  { name: 'F1 boundary: iat now - 60', proof: () => p({ iat: NOW - 60 }) },
  { name: 'F4 boundary: iat now + 10', proof: () => p({ iat: NOW + 10 }) },
  { name: 'fractional iat', proof: () => p({ iat: NOW - 0.5 }) },
  { name: 'jti of 512 characters (the limit)', proof: () => p({ jti: 'j'.repeat(512) }) },
  {
    name: 'ath with no access token (token endpoint: ignored)',
    proof: () => p({ ath: 'whatever' }),
  },
  { name: 'nonce sent although nonces are off (ignored)', proof: () => p({ nonce: 'unasked' }) },
  {
    name: 'correct ath and expectedJkt',
    proof: () => p({ ath: ATH }),
    options: () => ({ accessToken: ACCESS_TOKEN, expectedJkt: jktOf(es) }),
  },
  {
    name: 'nonce-established freshness: valid nonce with a stale iat (RFC 9449 §4.3 item 11, D6)',
    proof: async (ctx) => p({ iat: NOW - 3600, nonce: await ctx.rsNonces.issueNonce() }),
    options: withNonces,
    check: (r) => expect(r.rotateNonce).toBe(false),
  },
  {
    name: 'nonce from the previous step: accepted, rotate',
    proof: async (ctx) =>
      p({
        nonce: await ctx.core
          .createNonceSource({ secret: SECRET, now: () => NOW_MS - 60_000 })
          .issueNonce(),
      }),
    options: withNonces,
    check: (r) => expect(r.rotateNonce).toBe(true),
  },
  {
    name: 'exact-string nonce policy',
    proof: () => p({ nonce: 'eyJ7S_zG.eyJH0-Z.HX4w-7v' }),
    options: () => ({ nonce: 'eyJ7S_zG.eyJH0-Z.HX4w-7v' }),
  },
  ...ALL_ALGS.map((alg): AcceptedCase => {
    const key = alg.startsWith('ES')
      ? alg === 'ES256'
        ? es
        : alg === 'ES384'
          ? es384
          : testKey('ES512')
      : alg === 'EdDSA'
        ? ed
        : { ...rsa, alg }
    return { name: `hand-built (node:crypto) ${alg} proof`, proof: () => p({}, {}, key) }
  }),
]

describe.each(backends)('accepted edge cases ($name backend)', ({ core }) => {
  let ctx: Ctx
  beforeAll(() => {
    ctx = {
      core,
      rsNonces: core.createNonceSource({ secret: SECRET, purpose: 'rs', now: () => NOW_MS }),
      asNonces: core.createNonceSource({ secret: SECRET, purpose: 'as', now: () => NOW_MS }),
    }
  })

  it.each(accepted)('accepts: $name', async (c) => {
    const proof = await c.proof(ctx)
    const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
    const result = await core.verifyProof(proof, c.request ?? RS_REQUEST, {
      replayStore,
      now: () => NOW_MS,
      ...c.options?.(ctx),
    })
    expect(replayStore.size).toBe(1)
    c.check?.(result)
  })

  it('F5: the same nonce with three different jtis is accepted three times', async () => {
    const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
    const nonce = await ctx.rsNonces.issueNonce()
    for (let i = 0; i < 3; i++) {
      await expect(
        core.verifyProof(p({ nonce }), RS_REQUEST, {
          replayStore,
          now: () => NOW_MS,
          nonce: ctx.rsNonces,
        }),
      ).resolves.toBeDefined()
    }
    expect(replayStore.size).toBe(3)
  })
})
