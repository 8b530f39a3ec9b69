/**
 * The `node` backend: synchronous `node:crypto`. Signature checks cost one native call with a
 * `KeyObject` that the proof verifier caches per key, which is what makes Keybound's verify
 * run close to a bare `crypto.verify`.
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hash,
  randomFillSync,
  sign,
  verify,
  KeyObject,
  type JsonWebKeyInput,
  type SignKeyObjectInput,
} from 'node:crypto'
import { isAscii } from 'node:buffer'
import type { AlgorithmSpec } from '../algorithms.js'
import type { PublicJwk } from '../types.js'
import type { CryptoBackend } from './backend.js'
import { webcryptoBackend } from './webcrypto.js'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
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

// Proof keys are CryptoKeys, but node:crypto signs synchronously only with KeyObjects, and from
// Node 24 on neither passing a CryptoKey nor converting a non-extractable one is allowed. So keys
// made or imported through core get a KeyObject twin here (private to this module: the
// CryptoKey stays non-extractable for the application); extractable keys from elsewhere are
// converted once; any other key is signed through WebCrypto.
const keyObjects = new WeakMap<CryptoKey, KeyObject>()

function keyObjectOf(cryptoKey: CryptoKey): KeyObject | undefined {
  let keyObject = keyObjects.get(cryptoKey)
  if (keyObject === undefined && cryptoKey.extractable) {
    keyObject = KeyObject.from(cryptoKey)
    keyObjects.set(cryptoKey, keyObject)
  }
  return keyObject
}

function signWith(
  spec: AlgorithmSpec,
  privateKey: CryptoKey,
  data: Uint8Array,
): Uint8Array | Promise<Uint8Array> {
  const keyObject = keyObjectOf(privateKey)
  if (keyObject === undefined) return webcryptoBackend.sign(spec, privateKey, data)
  return sign(hashOf(spec), data, keyOptions(spec, keyObject))
}

function keyOptions(spec: AlgorithmSpec, key: KeyObject): SignKeyObjectInput {
  if (spec.kty === 'EC') return { key, dsaEncoding: 'ieee-p1363' }
  if (spec.padding === 'pss') {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[spec.hash!] }
  }
  return { key }
}

function hashOf(spec: AlgorithmSpec): string | null {
  return spec.hash === undefined ? null : NODE_HASH[spec.hash]
}

// With a callback, node:crypto runs the check as a job on libuv's thread pool.
function verifyOnPool(
  spec: AlgorithmSpec,
  key: SignKeyObjectInput,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    verify(hashOf(spec), data, key, signature, (error, valid) =>
      error ? reject(error) : resolve(valid),
    )
  })
}

// Reused by every verification (see `decodeSignature`). Signatures come in one length per
// algorithm and RSA modulus size; past a few lengths, buffers are no longer kept.
const SIGNATURE_SCRATCH_LENGTHS = 16
const signatureScratch = new Map<number, Buffer>()
let signingInputScratch = Buffer.allocUnsafeSlow(2048)

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
  // The verify key is the complete options object (KeyObject, padding, encoding), built once per
  // client key, so that a check allocates nothing for it.
  importVerifyKey: (jwk, spec) =>
    Object.freeze(keyOptions(spec, createPublicKey({ key: publicMembers(jwk), format: 'jwk' }))),
  verify: (spec, key, data, signature) =>
    verify(hashOf(spec), data, key as SignKeyObjectInput, signature),
  verifyOffThread: (spec, key, data, signature) =>
    verifyOnPool(spec, key as SignKeyObjectInput, data, signature),
  sign: signWith,
  adoptPrivateKey: (cryptoKey, jwk) => {
    keyObjects.set(
      cryptoKey,
      createPrivateKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' }),
    )
  },
  encodeBase64url: (bytes) =>
    (Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    ).toString('base64url'),
  encodeTextBase64url: (text) => Buffer.from(text, 'utf8').toString('base64url'),
  // Not Buffer.from(text, 'base64url'): a signature decoded into a small plain Uint8Array (kept on
  // the V8 heap) makes a verification measurably cheaper than a Buffer carved from the pool.
  // Proof JSON is ASCII in practice: a latin1 view of ASCII bytes is the text, without a decoder.
  decodeBase64urlText: (text) => {
    const bytes = Buffer.from(text, 'base64url')
    return isAscii(bytes) ? bytes.toString('latin1') : utf8.decode(bytes)
  },
  // node:crypto is done with its input when the call returns (a thread-pool check copies it
  // first), so each verification writes into the same buffers instead of allocating.
  decodeSignature: (text) => {
    const length = (text.length * 3) >>> 2
    let out = signatureScratch.get(length)
    if (out === undefined) {
      out = Buffer.allocUnsafeSlow(length)
      if (signatureScratch.size < SIGNATURE_SCRATCH_LENGTHS) signatureScratch.set(length, out)
    }
    const written = out.write(text, 'base64url')
    return written === length ? out : out.subarray(0, written)
  },
  signingInputBytes: (text, end) => {
    if (end > signingInputScratch.length) signingInputScratch = Buffer.allocUnsafeSlow(end * 2)
    return signingInputScratch.subarray(0, signingInputScratch.write(text, 0, end, 'latin1'))
  },
  asciiBytes: (text) => Buffer.from(text, 'latin1'),
}
