/**
 * Hand-built JWS for hostile tests. Everything here uses `node:crypto` directly, never the library
 * under test, so a proof that the library should refuse is built by independent code: any header
 * and payload (objects, raw JSON text or raw bytes), signed with any key and any algorithm.
 */
import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto'
import { readFileSync } from 'node:fs'

/**
 * Every JWS algorithm the test keys cover: all core supports, `Ed25519` (an alias of `EdDSA`)
 * aside. Written out, not read from core, so a test over it notices an algorithm core drops.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1
 */
export const ALL_ALGS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
] as const

export type Alg = (typeof ALL_ALGS)[number]

/** A JWK with string members (enough for the PublicJwk shape the library takes). */
export type Jwk = { kty: string } & Record<string, string>

export interface TestKey {
  alg: Alg
  privateKey: KeyObject
  publicKey: KeyObject
  /** Only the public members (kty, crv, x, y / n, e), as a proof header carries them. */
  publicJwk: Jwk
  /** The full private JWK (with `d` etc.). */
  privateJwk: Jwk
}

const CURVE = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const
const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' } as const
const HASH_BYTES = { 256: 32, 384: 48, 512: 64 } as const

export function publicMembers(jwk: Record<string, unknown>): Jwk {
  const names =
    jwk.kty === 'RSA'
      ? ['kty', 'n', 'e']
      : jwk.kty === 'EC'
        ? ['kty', 'crv', 'x', 'y']
        : ['kty', 'crv', 'x']
  return Object.fromEntries(names.map((name) => [name, String(jwk[name])])) as Jwk
}

function describe(alg: Alg, privateKey: KeyObject, publicKey: KeyObject): TestKey {
  const privateJwk = privateKey.export({ format: 'jwk' }) as Jwk
  return {
    alg,
    privateKey,
    publicKey,
    publicJwk: publicMembers(publicKey.export({ format: 'jwk' })),
    privateJwk,
  }
}

/** A fresh key pair for `alg` (RSA: 2048 bits unless told). */
export function testKey(alg: Alg, modulusLength = 2048): TestKey {
  if (alg === 'EdDSA') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    return describe(alg, privateKey, publicKey)
  }
  if (alg.startsWith('ES')) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', {
      namedCurve: CURVE[alg as keyof typeof CURVE],
    })
    return describe(alg, privateKey, publicKey)
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength,
    publicExponent: 0x10001,
  })
  return describe(alg, privateKey, publicKey)
}

/** A key from a private JWK (e.g. an RFC example key). */
export function keyFromJwk(alg: Alg, jwk: Record<string, unknown>): TestKey {
  const privateKey = createPrivateKey({ key: jwk as never, format: 'jwk' })
  return describe(alg, privateKey, createPublicKey(privateKey))
}

/** Raw JWS signature (ECDSA as R||S unless `der`), computed with node:crypto only. */
export function signRaw(
  alg: string,
  privateKey: KeyObject,
  input: string | Uint8Array,
  der = false,
): Buffer {
  const data = typeof input === 'string' ? Buffer.from(input, 'ascii') : input
  const bits = Number(alg.slice(2)) as 256 | 384 | 512
  if (alg === 'EdDSA') return sign(null, data, privateKey)
  if (alg.startsWith('ES'))
    return sign(HASH[bits], data, { key: privateKey, dsaEncoding: der ? 'der' : 'ieee-p1363' })
  if (alg.startsWith('PS')) {
    return sign(HASH[bits], data, {
      key: privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: HASH_BYTES[bits],
    })
  }
  if (alg.startsWith('RS')) return sign(HASH[bits], data, privateKey)
  throw new Error(`signRaw: no signer for ${alg}`)
}

export const b64u = (data: string | Uint8Array): string =>
  (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)).toString('base64url')

export const fromB64u = (text: string): Buffer => Buffer.from(text, 'base64url')

/** A JWS part: an object (JSON-encoded), raw JSON text, or raw bytes. */
export type Part = Record<string, unknown> | unknown[] | string | Uint8Array

export function encodePart(part: Part): string {
  if (typeof part === 'string' || part instanceof Uint8Array) return b64u(part)
  return b64u(JSON.stringify(part))
}

/** How to sign: a test key (its own alg), or explicit alg + key, or a function of the input. */
export type Signer =
  TestKey | { alg: string; key: KeyObject; der?: boolean } | ((input: string) => Uint8Array)

export function signWith(signer: Signer, input: string): Buffer {
  if (typeof signer === 'function') return Buffer.from(signer(input))
  if ('privateKey' in signer) return signRaw(signer.alg, signer.privateKey, input)
  return signRaw(signer.alg, signer.key, input, signer.der === true)
}

/** Compact JWS over exactly the given parts. */
export function compact(header: Part, payload: Part, signer: Signer): string {
  const input = `${encodePart(header)}.${encodePart(payload)}`
  return `${input}.${b64u(signWith(signer, input))}`
}

/** Signs an already-encoded signing input (for non-canonical segments). */
export function signEncoded(headerSegment: string, payloadSegment: string, signer: Signer): string {
  const input = `${headerSegment}.${payloadSegment}`
  return `${input}.${b64u(signWith(signer, input))}`
}

export const RS_URL = 'https://resource.example.org/protectedresource'
export const RS_REQUEST = { method: 'GET', url: RS_URL } as const
export const ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'
export const ATH = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'

export const newJti = (): string => randomBytes(16).toString('base64url')

export const sha256b64u = (text: string): string =>
  createHash('sha256').update(text).digest('base64url')
export const hmacB64u = (
  alg: 'sha256' | 'sha384' | 'sha512',
  secret: Uint8Array | string,
  input: string,
): Buffer => createHmac(alg, secret).update(input).digest()

/** Standard proof header for a key, with overrides (`undefined` removes a member). */
export function proofHeader(
  key: TestKey,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return dropUndefined({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...overrides })
}

/** Standard RS claims at `iat`, with overrides (`undefined` removes a member). */
export function proofClaims(
  iat: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return dropUndefined({ jti: newJti(), htm: 'GET', htu: RS_URL, iat, ...overrides })
}

export function dropUndefined(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined))
}

/** A signed proof by `key` with header/claim overrides. */
export function handProof(
  key: TestKey,
  iat: number,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): string {
  return compact(proofHeader(key, header), proofClaims(iat, claims), key)
}

/**
 * The RFC vectors (a verbatim copy of the project's shared/vectors/rfc9449.json, kept in the repo
 * so that a clone tests on its own).
 */
export const vectors = JSON.parse(
  readFileSync(new URL('../vectors/rfc9449.json', import.meta.url), 'utf8'),
) as {
  rfc9449: {
    publicJwk: Jwk
    jkt: string
    tokenRequestProof: { htm: string; htu: string; iat: number; jti: string; jwt: string }
    refreshRequestProof: { htm: string; htu: string; iat: number; jti: string; jwt: string }
    resourceRequestProof: {
      htm: string
      htu: string
      iat: number
      jti: string
      accessToken: string
      ath: string
      jwt: string
    }
    jwtAccessTokenDecodeOnly: string
  }
  rfc7638: { jwk: Jwk; thumbprint: string }
  rfc8037: { privateJwk: Jwk; thumbprint: string; jws: string }
  rfc7515: { p256PrivateJwk: Jwk; thumbprint: string }
}
