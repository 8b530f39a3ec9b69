/**
 * Binds the proof logic to one crypto backend. Each entry point (`node`, `webcrypto`) builds one
 * `KeyboundCore` and re-exports its functions, so the public API is the same everywhere.
 * @packageDocumentation
 */
import type { CryptoBackend } from './backends/backend.js'
import { createProofWith } from './create-proof.js'
import {
  generateKeyPairWith,
  importKeyPairWith,
  type GenerateKeyPairOptions,
  type ImportKeyPairOptions,
} from './keys.js'
import { BoundedCache } from './lib/bounded-cache.js'
import { createNonceSourceWith, type NonceSource, type NonceSourceOptions } from './nonces.js'
import { athOf, thumbprintWith } from './thumbprint.js'
import type {
  CreateProofOptions,
  DPoPAlgorithm,
  DPoPKeyPair,
  PrivateJwk,
  ProofRequest,
  ProofSigner,
  PublicJwk,
  VerifiedProof,
  VerifyProofOptions,
} from './types.js'
import { verifyProofWith, type VerifiedHeader } from './verify-proof.js'

/** How many verified proof headers (one per client key, usually) stay cached. */
export const HEADER_CACHE_SIZE = 4096

/** The functions of `@keybound/core` that depend on a crypto backend. */
export interface KeyboundCore {
  /** Which backend these functions run on. */
  readonly backend: 'node' | 'webcrypto'

  /**
   * How many verified proof headers are cached now (at most {@link HEADER_CACHE_SIZE}: the
   * cache is bounded however many distinct keys clients send).
   * @example
   * ```ts
   * core.cachedHeaders // 12
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
   */
  readonly cachedHeaders: number

  /**
   * Creates a DPoP proof for one request (RFC 9449 §4.2).
   * @example
   * ```ts
   * const key = await generateKeyPair('ES256')
   * const proof = await createProof(key, { htm: 'GET', htu: 'https://api.example.com/items?page=2', accessToken })
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
   */
  createProof(key: DPoPKeyPair | ProofSigner, options: CreateProofOptions): Promise<string>

  /**
   * Verifies a DPoP proof against a request (every check of RFC 9449 §4.3). Resolves with the
   * verified header, claims and key thumbprint, or rejects with a `DPoPError`; nothing else.
   * @example
   * ```ts
   * const replayStore = new MemoryReplayStore()
   * const { jkt } = await verifyProof(proof, { method: 'GET', url: 'https://api.example.com/items' }, {
   *   replayStore, accessToken, expectedJkt: token.cnf.jkt,
   * })
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
   */
  verifyProof(
    proof: string,
    request: ProofRequest,
    options: VerifyProofOptions,
  ): Promise<VerifiedProof>

  /**
   * RFC 7638 SHA-256 JWK thumbprint, base64url: the `cnf.jkt` and `dpop_jkt` value.
   * @example
   * ```ts
   * await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x, y }) // '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
   */
  calculateJwkThumbprint(jwk: PublicJwk): Promise<string>

  /**
   * The `ath` value of an access token: base64url(SHA-256(ASCII(token))).
   * @example
   * ```ts
   * await calculateAth('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU') // 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
   */
  calculateAth(accessToken: string): Promise<string>

  /**
   * Generates a proof key pair; the private key is non-extractable unless `extractable: true`.
   * @example
   * ```ts
   * const key = await generateKeyPair('EdDSA')
   * key.jkt // thumbprint to bind tokens to
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
   */
  generateKeyPair(alg?: DPoPAlgorithm, options?: GenerateKeyPairOptions): Promise<DPoPKeyPair>

  /**
   * Imports a private JWK (for example from a key file) as a proof key pair.
   * @example
   * ```ts
   * const key = await importKeyPair(JSON.parse(await readFile('dpop-key.json', 'utf8')))
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc7517
   */
  importKeyPair(jwk: PrivateJwk, options?: ImportKeyPairOptions): Promise<DPoPKeyPair>

  /**
   * A stateless nonce source for `DPoP-Nonce` (HMAC over a time step with a shared secret).
   * @example
   * ```ts
   * const nonces = createNonceSource({ secret: process.env.DPOP_NONCE_SECRET!, purpose: 'rs' })
   * const nonce = await nonces.issueNonce()
   * await verifyProof(proof, request, { replayStore, nonce: nonces })
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
   */
  createNonceSource(options: NonceSourceOptions): NonceSource
}

/** Builds the API on one backend, with its own cache of verified proof headers. */
export function createCore(backend: CryptoBackend): KeyboundCore {
  const headerCache = new BoundedCache<string, VerifiedHeader>(HEADER_CACHE_SIZE)
  return {
    backend: backend.name,
    get cachedHeaders() {
      return headerCache.size
    },
    createProof: (key, options) => createProofWith(backend, key, options),
    verifyProof: (proof, request, options) =>
      verifyProofWith(backend, headerCache, proof, request, options),
    calculateJwkThumbprint: (jwk) => thumbprintWith(backend, jwk),
    // Synchronous hashing where the backend has it; a bad token still rejects the promise.
    calculateAth: async (accessToken) => athOf(backend, accessToken),
    generateKeyPair: (alg, options) => generateKeyPairWith(backend, alg, options),
    importKeyPair: (jwk, options) => importKeyPairWith(backend, jwk, options),
    createNonceSource: (options) => createNonceSourceWith(backend, options),
  }
}
