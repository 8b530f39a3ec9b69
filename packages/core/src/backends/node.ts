/**
 * The `node` backend: synchronous `node:crypto`. Signature checks cost one native call with a
 * `KeyObject` that the proof verifier caches per key, which is what makes Keybound's verify
 * run close to a bare `crypto.verify`.
 */
import {
  constants,
  createHmac,
  createPublicKey,
  hash,
  randomFillSync,
  sign,
  verify,
  type KeyObject,
  type SignKeyObjectInput,
} from 'node:crypto'
import type { AlgorithmSpec } from '../algorithms.js'
import type { PublicJwk } from '../types.js'
import { decodeBase64urlPortable } from '../lib/base64url.js'
import type { CryptoBackend } from './backend.js'

const NODE_HASH = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' } as const
const HASH_LENGTH = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 } as const

// Random bytes come from a pooled buffer: one syscall per 4 KiB instead of one per proof.
const RANDOM_POOL_SIZE = 4096
const randomPool = Buffer.alloc(RANDOM_POOL_SIZE)
let randomOffset = RANDOM_POOL_SIZE

function takeRandomBytes(length: number): Uint8Array {
  if (length > RANDOM_POOL_SIZE) return randomFillSync(Buffer.alloc(length))
  if (randomOffset + length > RANDOM_POOL_SIZE) {
    randomFillSync(randomPool)
    randomOffset = 0
  }
  const out = Buffer.from(randomPool.subarray(randomOffset, randomOffset + length))
  // Wipe what was handed out so that no two callers ever see the same bytes.
  randomPool.fill(0, randomOffset, randomOffset + length)
  randomOffset += length
  return out
}

// node:crypto takes a CryptoKey wherever it takes a KeyObject (the typings only list KeyObject).
function keyOptions(spec: AlgorithmSpec, cryptoKey: KeyObject | CryptoKey): SignKeyObjectInput {
  const key = cryptoKey as KeyObject
  if (spec.kty === 'EC') return { key, dsaEncoding: 'ieee-p1363' }
  if (spec.padding === 'pss') {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[spec.hash!] }
  }
  return { key }
}

function hashOf(spec: AlgorithmSpec): string | null {
  return spec.hash === undefined ? null : NODE_HASH[spec.hash]
}

function publicMembers(jwk: PublicJwk): Record<string, string> {
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n!, e: jwk.e! }
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y! }
  return { kty: 'OKP', crv: jwk.crv!, x: jwk.x! }
}

/** The synchronous `node:crypto` backend. */
export const nodeBackend: CryptoBackend = {
  name: 'node',
  // One-shot hashing: no Hash object per call.
  sha256: (data) => hash('sha256', data, 'buffer'),
  sha256TextBase64url: (text) => hash('sha256', text, 'base64url'),
  hmacSha256: (secret, data) => createHmac('sha256', secret).update(data).digest(),
  randomBytes: takeRandomBytes,
  importVerifyKey: (jwk) => createPublicKey({ key: publicMembers(jwk), format: 'jwk' }),
  verify: (spec, key, data, signature) =>
    verify(hashOf(spec), data, keyOptions(spec, key as KeyObject), signature),
  sign: (spec, privateKey, data) => sign(hashOf(spec), data, keyOptions(spec, privateKey)),
  encodeBase64url: (bytes) =>
    (Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    ).toString('base64url'),
  encodeTextBase64url: (text) => Buffer.from(text, 'utf8').toString('base64url'),
  // Not Buffer.from(text, 'base64url'): a signature decoded into a small plain Uint8Array (kept on
  // the V8 heap) makes a verification measurably cheaper than a Buffer carved from the pool.
  decodeBase64url: decodeBase64urlPortable,
  asciiBytes: (text) => Buffer.from(text, 'latin1'),
}
