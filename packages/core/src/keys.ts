/**
 * Proof keys: generate, import and export them, and derive the public JWK (RFC 7517). Keys are
 * WebCrypto `CryptoKey`s on every platform, non-extractable unless asked otherwise, so a key
 * made for a browser page cannot be read back by page script (RFC 9449 §11.4).
 * @packageDocumentation
 */
import { findAlgorithm, type AlgorithmSpec } from './algorithms.js'
import type { CryptoBackend } from './backends/backend.js'
import { importParamsOf } from './backends/webcrypto.js'
import { DPoPError, KeyboundError, KeyUnsupported } from './errors.js'
import { invalidArgument } from './lib/arguments.js'
import { checkProofJwk } from './lib/jwk-checks.js'
import { thumbprintWith } from './thumbprint.js'
import type { DPoPAlgorithm, DPoPKeyPair, PrivateJwk, PublicJwk } from './types.js'

/** Options of `generateKeyPair`. */
export interface GenerateKeyPairOptions {
  /** Allow `exportKeyPair` later (default `false`: the private key can sign, never be read). */
  extractable?: boolean
  /** RSA modulus length in bits (default 2048, minimum 2048). */
  modulusLength?: number
}

/** Options of `importKeyPair`. */
export interface ImportKeyPairOptions {
  /** The algorithm to use the key with; defaults to the JWK's `alg`, then ES256/EdDSA/PS256 by key type. */
  alg?: DPoPAlgorithm
  /** Keep the imported private key exportable (default `false`). */
  extractable?: boolean
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
  OKP: ['kty', 'crv', 'x'],
}

const subtle = (): SubtleCrypto => globalThis.crypto.subtle

function specOf(alg: unknown): AlgorithmSpec {
  const spec = findAlgorithm(alg)
  if (spec === undefined) {
    throw new KeyUnsupported(`"alg" ${String(alg)} is not supported for DPoP proofs`, {
      claim: 'alg',
    })
  }
  return spec
}

/**
 * The public JWK of a (public or private) JWK: only `kty` and the key's public members, so no
 * private member, `kid`, `use` or `alg` ever reaches a proof header.
 * @example
 * ```ts
 * const publicJwk = toPublicJwk(privateJwk) // { kty: 'EC', crv: 'P-256', x, y }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function toPublicJwk(jwk: PublicJwk): PublicJwk {
  const members = PUBLIC_MEMBERS[jwk?.kty]
  if (members === undefined)
    throw new KeyUnsupported('JWK "kty" must be EC, RSA or OKP', { claim: 'kty' })
  const out: PublicJwk = { kty: jwk.kty }
  for (const member of members) {
    if (typeof jwk[member] !== 'string')
      throw invalidArgument(`jwk.${member}`, 'a string', { claim: member })
    out[member] = jwk[member]
  }
  return out
}

function defaultAlgorithmOf(jwk: PublicJwk): DPoPAlgorithm {
  if (typeof jwk.alg === 'string') return jwk.alg as DPoPAlgorithm
  if (jwk.kty === 'EC')
    return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256'
  if (jwk.kty === 'OKP') return 'EdDSA'
  return 'PS256'
}

function generateParamsOf(spec: AlgorithmSpec, modulusLength: number) {
  if (spec.kty !== 'RSA') return importParamsOf(spec)
  return { ...importParamsOf(spec), modulusLength, publicExponent: new Uint8Array([1, 0, 1]) }
}

async function describeKeyPair(
  backend: CryptoBackend,
  spec: AlgorithmSpec,
  privateKey: CryptoKey,
  publicKey: CryptoKey,
): Promise<DPoPKeyPair> {
  const publicJwk = toPublicJwk((await subtle().exportKey('jwk', publicKey)) as PublicJwk)
  checkProofJwk(publicJwk, spec)
  const jkt = await thumbprintWith(backend, publicJwk)
  return Object.freeze({
    alg: spec.alg,
    privateKey,
    publicKey,
    publicJwk: Object.freeze(publicJwk),
    jkt,
  })
}

function wrapKeyError(error: unknown, what: string): never {
  if (error instanceof KeyboundError) throw error
  throw new KeyUnsupported(`${what} failed`, { cause: error })
}

/** Generates a DPoP key pair (core binds the backend for you). */
export async function generateKeyPairWith(
  backend: CryptoBackend,
  alg: DPoPAlgorithm = 'ES256',
  options: GenerateKeyPairOptions = {},
): Promise<DPoPKeyPair> {
  const spec = specOf(alg)
  const modulusLength = options.modulusLength ?? 2048
  if (spec.kty === 'RSA' && !(modulusLength >= 2048 && modulusLength <= 8192)) {
    throw invalidArgument('modulusLength', 'from 2048 to 8192')
  }
  const extractable = options.extractable === true
  const adopt = backend.adoptPrivateKey
  try {
    // A backend that keeps its own form of the key (node) needs the private JWK once: the key is
    // generated extractable, handed over, and re-imported non-extractable for the application.
    const pair = (await subtle().generateKey(
      generateParamsOf(spec, modulusLength),
      extractable || adopt !== undefined,
      ['sign', 'verify'],
    )) as CryptoKeyPair
    let privateKey = pair.privateKey
    if (adopt !== undefined) {
      const jwk = (await subtle().exportKey('jwk', pair.privateKey)) as PrivateJwk
      if (!extractable) {
        privateKey = await subtle().importKey(
          'jwk',
          jwk as JsonWebKey,
          importParamsOf(spec),
          false,
          ['sign'],
        )
      }
      adopt(privateKey, jwk)
    }
    return await describeKeyPair(backend, spec, privateKey, pair.publicKey)
  } catch (error) {
    wrapKeyError(error, 'key generation')
  }
}

/** Imports a private JWK as a DPoP key pair (core binds the backend for you). */
export async function importKeyPairWith(
  backend: CryptoBackend,
  jwk: PrivateJwk,
  options: ImportKeyPairOptions = {},
): Promise<DPoPKeyPair> {
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw invalidArgument('jwk', 'a private JWK (with "d")')
  }
  const spec = specOf(options.alg ?? defaultAlgorithmOf(jwk))
  const publicJwk = toPublicJwk(jwk)
  try {
    checkProofJwk(publicJwk, spec)
  } catch (error) {
    const { reason } = error as DPoPError
    throw new KeyUnsupported(`the key cannot be used for ${spec.alg} proofs: ${String(reason)}`, {
      claim: 'jwk',
      ...(reason === undefined ? {} : { reason }),
    })
  }
  try {
    const privateJwk = { ...jwk } as JsonWebKey
    delete privateJwk.alg
    delete privateJwk.key_ops
    delete privateJwk.use
    const params = importParamsOf(spec)
    const [privateKey, publicKey] = await Promise.all([
      subtle().importKey('jwk', privateJwk, params, options.extractable === true, ['sign']),
      subtle().importKey('jwk', publicJwk as JsonWebKey, params, true, ['verify']),
    ])
    backend.adoptPrivateKey?.(privateKey, jwk)
    return await describeKeyPair(backend, spec, privateKey, publicKey)
  } catch (error) {
    wrapKeyError(error, 'key import')
  }
}

/**
 * Exports the private JWK of an extractable key pair (for a key file). Throws
 * `KeyUnsupported` (reason `not extractable`) for non-extractable keys.
 * @example
 * ```ts
 * const pair = await generateKeyPair('ES256', { extractable: true })
 * const jwk = await exportKeyPair(pair)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517
 */
export async function exportKeyPair(keyPair: DPoPKeyPair): Promise<PrivateJwk> {
  if (!keyPair?.privateKey?.extractable) {
    throw new KeyUnsupported('the private key is not extractable', { reason: 'not extractable' })
  }
  const jwk = (await subtle().exportKey('jwk', keyPair.privateKey)) as PrivateJwk
  delete jwk.key_ops
  delete jwk.ext
  return { ...jwk, alg: keyPair.alg }
}
