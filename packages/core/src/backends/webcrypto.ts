/**
 * The `webcrypto` backend: `crypto.subtle`, for browsers, Deno, Bun, workers (and Node, where it
 * is tested). Everything is portable JavaScript: no `Buffer`, no `node:` imports.
 */
import type { AlgorithmSpec } from '../algorithms.js'
import { decodeCanonicalBase64urlInto, encodeBase64urlPortable } from '../lib/base64url.js'
import type { PublicJwk } from '../types.js'
import type { CryptoBackend } from './backend.js'

/** The bytes of canonical base64url, or `undefined` for any other text. */
function decodeCanonical(text: string): Uint8Array | undefined {
  const out = new Uint8Array((text.length * 3) >>> 2)
  return decodeCanonicalBase64urlInto(text, out) < 0 ? undefined : out
}

const HASH_LENGTH = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 } as const

/** WebCrypto import parameters for an algorithm. */
export function importParamsOf(
  spec: AlgorithmSpec,
): EcKeyImportParams | RsaHashedImportParams | Algorithm {
  if (spec.kty === 'EC') return { name: 'ECDSA', namedCurve: spec.crv! }
  if (spec.kty === 'OKP') return { name: 'Ed25519' }
  return { name: spec.padding === 'pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: spec.hash! }
}

/** WebCrypto sign/verify parameters for an algorithm. */
export function signParamsOf(spec: AlgorithmSpec): EcdsaParams | RsaPssParams | Algorithm {
  if (spec.kty === 'EC') return { name: 'ECDSA', hash: spec.hash! }
  if (spec.kty === 'OKP') return { name: 'Ed25519' }
  if (spec.padding === 'pss') return { name: 'RSA-PSS', saltLength: HASH_LENGTH[spec.hash!] }
  return { name: 'RSASSA-PKCS1-v1_5' }
}

function publicMembers(jwk: PublicJwk): JsonWebKey {
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n!, e: jwk.e! }
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y! }
  return { kty: 'OKP', crv: jwk.crv!, x: jwk.x! }
}

const subtle = (): SubtleCrypto => globalThis.crypto.subtle
// TypeScript 5.9 types Uint8Array over ArrayBufferLike; WebCrypto takes any view of plain memory.
const source = (bytes: Uint8Array): BufferSource => bytes as Uint8Array<ArrayBuffer>

// Importing an HMAC key costs more than using it; nonce secrets live as long as their issuer.
const hmacKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>()
function hmacKeyOf(secret: Uint8Array): Promise<CryptoKey> {
  let key = hmacKeys.get(secret)
  if (key === undefined) {
    key = subtle().importKey('raw', source(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ])
    hmacKeys.set(secret, key)
  }
  return key
}
const encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The portable WebCrypto backend. */
export const webcryptoBackend: CryptoBackend = {
  name: 'webcrypto',
  sha256: async (data) => new Uint8Array(await subtle().digest('SHA-256', source(data))),
  hmacSha256: async (secret, data) =>
    new Uint8Array(await subtle().sign('HMAC', await hmacKeyOf(secret), source(data))),
  randomBytes: (length) => globalThis.crypto.getRandomValues(new Uint8Array(length)),
  importVerifyKey: (jwk, spec) =>
    subtle().importKey('jwk', publicMembers(jwk), importParamsOf(spec), false, ['verify']),
  verify: (spec, key, data, signature) =>
    subtle().verify(signParamsOf(spec), key as CryptoKey, source(signature), source(data)),
  sign: async (spec, privateKey, data) =>
    new Uint8Array(await subtle().sign(signParamsOf(spec), privateKey, source(data))),
  encodeBase64url: encodeBase64urlPortable,
  encodeTextBase64url: (text) => encodeBase64urlPortable(encoder.encode(text)),
  decodeBase64urlText: (text) => {
    const bytes = decodeCanonical(text)
    return bytes === undefined ? undefined : utf8.decode(bytes)
  },
  // WebCrypto keeps no reference to its input, but a verification may still be pending when the
  // next one starts: fresh buffers here.
  decodeSignature: decodeCanonical,
  signingInputBytes: (text, end) => encoder.encode(text.slice(0, end)),
  asciiBytes: (text) => encoder.encode(text),
}
