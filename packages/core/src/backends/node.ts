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
import type { AlgorithmSpec } from '../algorithms.js'
import {
  decodeCanonicalBase64urlBytesInto,
  decodeCanonicalBase64urlInto,
} from '../lib/base64url.js'
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

// Buffers reused by every verification (see `decodeSignature`), one per length: a signature has
// one length per algorithm and key size, a signing input one per client and URL in practice.
// Past a few lengths, buffers are made per call and not kept, so memory stays bounded.
const SCRATCH_LENGTHS = 32
const signatureScratch = new Map<number, Buffer>()
const signingInputScratch = new Map<number, Buffer>()
// Proof payloads and headers are short; longer ones (up to the proof size limit) are rare.
const textScratch = Buffer.allocUnsafeSlow(4096)
const NON_ASCII = /[^\x00-\x7f]/
const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)

function scratchOfLength(scratch: Map<number, Buffer>, length: number): Buffer {
  let out = scratch.get(length)
  if (out === undefined) {
    out = Buffer.allocUnsafeSlow(length)
    if (scratch.size < SCRATCH_LENGTHS) scratch.set(length, out)
  }
  return out
}

// Proof payloads and signatures are checked and decoded by one pass in JavaScript, not by
// node's base64 decoder. That decoder is faster by itself (about 0.13 µs against 0.45 µs for an
// RSA signature), but on Intel Xeons with AVX-512 it runs 512-bit vector code, and the core
// then spends the next few hundred microseconds at a lower clock: the RSA or EC check right
// after it ran 2–4 µs slower, a tenth of a PS256 verification (measured on the project's
// machine; forcing simdutf's AVX2 code took the loss away). Decoding here costs less than that.
// The text is first copied as Latin-1 into a byte buffer (a plain copy for the one-byte strings
// HTTP headers are) and decoded from there: reading bytes is about twice as fast as reading the
// characters of a string sliced out of the proof. A character above U+00FF would be cut to its
// low byte by that copy (`Ł`, U+0141, would read as `A`), so a two-byte string is decoded from
// its characters instead; on a one-byte string that test ends at once, without a scan.
const WIDE_CHARACTER = /[\u0100-\uffff]/

/** Decodes canonical base64url `text` into `out`: the bytes written, or -1. */
function decodeInto(text: string, out: Uint8Array): number {
  if (text.length > textScratch.length || WIDE_CHARACTER.test(text))
    return decodeCanonicalBase64urlInto(text, out)
  const length = textScratch.write(text, 0, 'latin1')
  return decodeCanonicalBase64urlBytesInto(textScratch, length, out)
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
  // Decoded into a reused buffer and read back as latin1: proof JSON is ASCII in practice, and
  // for ASCII that is the text, without a decoder or a buffer per call. Anything else goes
  // through the strict UTF-8 decoder.
  decodeBase64urlText: (text) => {
    const length = (text.length * 3) >>> 2
    // Decoded in place when the text fits in the scratch buffer (see decodeInto).
    const out = text.length > textScratch.length ? Buffer.allocUnsafe(length) : textScratch
    const written = decodeInto(text, out)
    if (written < 0) return undefined
    const latin1 = out.toString('latin1', 0, written)
    return NON_ASCII.test(latin1) ? decodeUtf8(out.subarray(0, written)) : latin1
  },
  // node:crypto is done with its input when the call returns (a thread-pool check copies it
  // first), so each verification writes into the same buffers instead of allocating.
  decodeSignature: (text) => {
    const out = scratchOfLength(signatureScratch, (text.length * 3) >>> 2)
    return decodeInto(text, out) < 0 ? undefined : out
  },
  signingInputBytes: (text, end) => {
    const out = scratchOfLength(signingInputScratch, end)
    out.write(text, 0, end, 'latin1')
    return out
  },
  asciiBytes: (text) => Buffer.from(text, 'latin1'),
}
