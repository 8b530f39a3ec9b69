/**
 * The algorithm table: which key fits which `alg`, with the parameters the backends need.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1
 * @packageDocumentation
 */
import type { DPoPAlgorithm } from './types.js'

/** How an algorithm signs: the facts both backends and the JWK checks need. */
export interface AlgorithmSpec {
  readonly alg: DPoPAlgorithm
  readonly kty: 'EC' | 'RSA' | 'OKP'
  /** Curve for EC and OKP keys. */
  readonly crv?: 'P-256' | 'P-384' | 'P-521' | 'Ed25519'
  /** Hash for EC and RSA; EdDSA hashes internally. */
  readonly hash?: 'SHA-256' | 'SHA-384' | 'SHA-512'
  /** RSA padding. */
  readonly padding?: 'pkcs1' | 'pss'
  /** Exact signature length where it is fixed (ECDSA `R||S`, Ed25519). */
  readonly signatureLength?: number
  /** Byte length of an EC/OKP coordinate. */
  readonly coordinateLength?: number
}

const SPECS: Record<DPoPAlgorithm, AlgorithmSpec> = {
  ES256: {
    alg: 'ES256',
    kty: 'EC',
    crv: 'P-256',
    hash: 'SHA-256',
    signatureLength: 64,
    coordinateLength: 32,
  },
  ES384: {
    alg: 'ES384',
    kty: 'EC',
    crv: 'P-384',
    hash: 'SHA-384',
    signatureLength: 96,
    coordinateLength: 48,
  },
  ES512: {
    alg: 'ES512',
    kty: 'EC',
    crv: 'P-521',
    hash: 'SHA-512',
    signatureLength: 132,
    coordinateLength: 66,
  },
  PS256: { alg: 'PS256', kty: 'RSA', hash: 'SHA-256', padding: 'pss' },
  PS384: { alg: 'PS384', kty: 'RSA', hash: 'SHA-384', padding: 'pss' },
  PS512: { alg: 'PS512', kty: 'RSA', hash: 'SHA-512', padding: 'pss' },
  RS256: { alg: 'RS256', kty: 'RSA', hash: 'SHA-256', padding: 'pkcs1' },
  RS384: { alg: 'RS384', kty: 'RSA', hash: 'SHA-384', padding: 'pkcs1' },
  RS512: { alg: 'RS512', kty: 'RSA', hash: 'SHA-512', padding: 'pkcs1' },
  // RFC 9864's fully-specified name for EdDSA with Ed25519 (oauth4webapi and dpop sign with it).
  Ed25519: {
    alg: 'Ed25519',
    kty: 'OKP',
    crv: 'Ed25519',
    signatureLength: 64,
    coordinateLength: 32,
  },
  EdDSA: { alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', signatureLength: 64, coordinateLength: 32 },
}

/**
 * Every algorithm Keybound supports for proofs, in the order servers advertise them
 * (`algs` in challenges, `dpop_signing_alg_values_supported` in metadata).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5.1
 */
export const SUPPORTED_ALGORITHMS: readonly DPoPAlgorithm[] = Object.freeze([
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
  'Ed25519',
])

/** Smallest and largest RSA modulus accepted, in bits (RFC 7518 §3.3 requires >= 2048). */
export const RSA_MIN_BITS = 2048
export const RSA_MAX_BITS = 8192

/**
 * The spec of a supported algorithm, or `undefined` for anything else (including `none`,
 * the `HS*` family and unregistered names).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function findAlgorithm(alg: unknown): AlgorithmSpec | undefined {
  return typeof alg === 'string' && Object.hasOwn(SPECS, alg)
    ? SPECS[alg as DPoPAlgorithm]
    : undefined
}
