/**
 * Proof keys for the client: the signer interface (the private key can live in an HSM, a cloud
 * KMS or a device keystore), and key stores that hand out one key per application, create it on
 * first use and rotate it on request.
 * @packageDocumentation
 */
import {
  calculateJwkThumbprint,
  generateKeyPair,
  toPublicJwk,
  type DPoPAlgorithm,
  type DPoPKeyPair,
  type ProofSigner,
  type PublicJwk,
} from '@keybound/core'
import { invalidArgument } from '@keybound/core/internal'

/** A proof key: a core key pair (WebCrypto keys) or any signer. */
export type ProofKey = DPoPKeyPair | ProofSigner

/**
 * Where an application's proof key lives. `getKey` loads it, creating it on first use;
 * `rotate` replaces it with a new one (tokens bound to the old key stop working, RFC 9449 §5);
 * `delete` removes it.
 */
export interface KeyStore {
  getKey(): Promise<DPoPKeyPair>
  rotate(): Promise<DPoPKeyPair>
  delete(): Promise<void>
}

/** Options shared by the key stores. */
export interface KeyStoreOptions {
  /** Algorithm of keys the store creates (default `ES256`). */
  alg?: DPoPAlgorithm
}

/**
 * Builds a {@link ProofSigner} from a public JWK and a `sign(bytes)` function, for keys that
 * never leave an HSM, a cloud KMS or a device keystore. `sign` receives the JWS signing input and
 * must return the JWS signature (for ECDSA the raw `R||S`, not DER; RFC 7518 §3.4).
 * @example
 * ```ts
 * const signer = createSigner({
 *   alg: 'ES256',
 *   publicJwk: await kms.getPublicJwk(keyId),
 *   sign: async (bytes) => derToJose(await kms.sign(keyId, bytes)),
 * })
 * const api = createDPoPFetch({ fetch, key: signer })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function createSigner(options: {
  alg: DPoPAlgorithm
  publicJwk: PublicJwk
  sign: (signingInput: Uint8Array) => Uint8Array | Promise<Uint8Array>
}): ProofSigner {
  if (typeof options?.sign !== 'function') throw invalidArgument('sign', 'a function')
  // Only the public members: a private member handed in by mistake never reaches a proof header.
  const publicJwk = Object.freeze(toPublicJwk(options.publicJwk))
  const sign = options.sign
  return Object.freeze({ alg: options.alg, publicJwk, sign: (bytes: Uint8Array) => sign(bytes) })
}

const thumbprints = new WeakMap<object, Promise<string>>()

/**
 * The RFC 7638 thumbprint of a proof key (the `cnf.jkt` / `dpop_jkt` value), cached per key.
 * @example
 * ```ts
 * const jkt = await getJkt(signer)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.1
 */
export function getJkt(key: ProofKey): Promise<string> {
  if ('jkt' in key && typeof key.jkt === 'string') return Promise.resolve(key.jkt)
  let jkt = thumbprints.get(key)
  if (jkt === undefined) {
    jkt = calculateJwkThumbprint(key.publicJwk)
    thumbprints.set(key, jkt)
  }
  return jkt
}

/**
 * Builds the key-pair handle for a stored WebCrypto key pair (public JWK and thumbprint derived
 * from the public key; the private key stays as it is, non-extractable).
 */
export async function keyPairFromCryptoKeys(
  alg: DPoPAlgorithm,
  privateKey: CryptoKey,
  publicKey: CryptoKey,
): Promise<DPoPKeyPair> {
  const publicJwk = Object.freeze(
    toPublicJwk((await globalThis.crypto.subtle.exportKey('jwk', publicKey)) as PublicJwk),
  )
  const jkt = await calculateJwkThumbprint(publicJwk)
  return Object.freeze({ alg, privateKey, publicKey, publicJwk, jkt })
}

/**
 * A key store that keeps one non-extractable key in memory for the life of the process.
 * @example
 * ```ts
 * const keys = createMemoryKeyStore({ alg: 'ES256' })
 * const api = createDPoPFetch({ fetch, key: await keys.getKey() })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
 */
export function createMemoryKeyStore(options: KeyStoreOptions = {}): KeyStore {
  const alg = options.alg ?? 'ES256'
  let current: Promise<DPoPKeyPair> | undefined
  return {
    getKey() {
      current ??= generateKeyPair(alg)
      return current
    },
    rotate() {
      current = generateKeyPair(alg)
      return current
    },
    async delete() {
      current = undefined
    },
  }
}
