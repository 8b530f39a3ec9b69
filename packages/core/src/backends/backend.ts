/**
 * The crypto seam. Everything in core that touches a key, a hash or randomness goes through
 * a `CryptoBackend`, so the same proof logic runs on `node:crypto` (synchronous, fastest under
 * Node) and on WebCrypto (browsers, Deno, Bun, workers). Methods may answer synchronously or
 * with a promise; callers always `await`.
 */
import type { AlgorithmSpec } from '../algorithms.js'
import type { PrivateJwk, PublicJwk } from '../types.js'

/** A public key ready for signature checks, in the backend's own form. */
export type VerifyKey = unknown

/** The primitives core needs from a platform. */
export interface CryptoBackend {
  readonly name: 'node' | 'webcrypto'
  sha256(data: Uint8Array): Uint8Array | Promise<Uint8Array>
  /**
   * Optional synchronous shortcut for base64url(SHA-256(UTF-8 bytes of `text`)), the `ath` of an
   * access token; without it callers hash `sha256` output themselves.
   */
  sha256TextBase64url?(text: string): string
  hmacSha256(secret: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array>
  randomBytes(length: number): Uint8Array
  /** Imports the public members of a JWK already checked against `spec`; throws on a bad key. */
  importVerifyKey(jwk: PublicJwk, spec: AlgorithmSpec): VerifyKey | Promise<VerifyKey>
  verify(
    spec: AlgorithmSpec,
    key: VerifyKey,
    data: Uint8Array,
    signature: Uint8Array,
  ): boolean | Promise<boolean>
  /**
   * Optional: the same check as `verify`, run off the calling thread (a worker pool), for
   * servers that want their event loop free while signatures are checked.
   */
  verifyOffThread?(
    spec: AlgorithmSpec,
    key: VerifyKey,
    data: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean>
  sign(
    spec: AlgorithmSpec,
    privateKey: CryptoKey,
    data: Uint8Array,
  ): Uint8Array | Promise<Uint8Array>
  /**
   * Called with a private key core made or imported, and its JWK, so that a backend can keep a
   * faster form of it (the node backend keeps a KeyObject). Absent when there is nothing to gain.
   */
  adoptPrivateKey?(cryptoKey: CryptoKey, jwk: PrivateJwk): void
  encodeBase64url(bytes: Uint8Array): string
  /** base64url of the UTF-8 bytes of `text`. */
  encodeTextBase64url(text: string): string
  /**
   * Decodes base64url to text, or gives `undefined` when `text` is not canonical base64url
   * (RFC 7515 §2: no padding, only the URL-safe alphabet, no stray bits). Refuses bytes that are
   * not UTF-8 (a BOM is kept, so a JSON parser refuses it): throws `TypeError` on invalid UTF-8.
   */
  decodeBase64urlText(text: string): string | undefined
  /**
   * Decodes a signature for one immediate check, or gives `undefined` when `text` is not
   * canonical base64url. The bytes are only valid until the next call: a backend may reuse one
   * buffer.
   */
  decodeSignature(text: string): Uint8Array | undefined
  /**
   * The bytes of `text.slice(0, end)`, a JWS signing input (ASCII by construction), for one
   * immediate check. Only valid until the next call: a backend may reuse one buffer.
   */
  signingInputBytes(text: string, end: number): Uint8Array
  /** Bytes of an ASCII string (JWS signing inputs are ASCII by construction), newly allocated. */
  asciiBytes(text: string): Uint8Array
}
