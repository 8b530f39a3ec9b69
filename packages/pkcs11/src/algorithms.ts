/**
 * How each proof algorithm maps onto PKCS#11: key type, key generation, the signing mechanism,
 * whether the JWS signing input is hashed here first, and how the token's output becomes a JWS
 * signature.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1
 * @packageDocumentation
 */
import { hash } from 'node:crypto'
import type { Mechanism, Template } from 'pkcs11js'
import type { Pkcs11Binding } from './module.js'

/** Proof algorithms the PKCS#11 signer supports. */
export type Pkcs11Algorithm = 'ES256' | 'PS256' | 'RS256' | 'EdDSA'

// Values PKCS#11 3.0 defines that pkcs11js 2.1 does not export.
const CKK_EC_EDWARDS = 0x40
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055
const CKM_EDDSA = 0x1057
/** DER OID 1.2.840.10045.3.1.7 (P-256), the CKA_EC_PARAMS of an ES256 key. */
export const P256_PARAMS = Uint8Array.from([6, 8, 42, 134, 72, 206, 61, 3, 1, 7])
/** DER OID 1.3.101.112 (Ed25519), the CKA_EC_PARAMS of an EdDSA key. */
export const ED25519_PARAMS = Uint8Array.from([6, 3, 43, 101, 112])
// PKCS#11 3.0 §2.3.6 also allows the curve's name as a DER PrintableString.
const ED25519_NAME = Uint8Array.from([19, 12, ...Buffer.from('edwards25519')])

/** What the signer needs to know about an algorithm on a token. */
export interface AlgorithmProfile {
  readonly alg: Pkcs11Algorithm
  readonly keyType: number
  readonly generate: Mechanism
  /** Attributes of a new public key besides class, token, label and id. */
  readonly publicTemplate: Template
  /** The mechanism list must contain this for the token to be usable. */
  readonly signMechanism: number
  readonly mechanism: Mechanism
  /** Turns the JWS signing input into what C_Sign receives. */
  prepare(signingInput: Uint8Array): Buffer
  /** Largest signature the token may return. */
  readonly outputLength: number
  /** Whether CKA_EC_PARAMS of a found key is this algorithm's curve. */
  acceptsCurve?(params: Uint8Array): boolean
}

/**
 * The PKCS#11 profile of `alg`: ES256 is CKM_ECDSA over a SHA-256 digest computed here, PS256
 * is CKM_RSA_PKCS_PSS (SHA-256, MGF1-SHA256, 32-byte salt, RFC 7518 §3.5) over the digest,
 * RS256 is CKM_SHA256_RSA_PKCS over the input, EdDSA is CKM_EDDSA over the input.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1
 */
export function profileOf(
  binding: Pkcs11Binding,
  alg: Pkcs11Algorithm,
  rsaBits: number,
): AlgorithmProfile {
  // One-shot hash: no Hash object per proof.
  const sha256 = (input: Uint8Array) => hash('sha256', input, 'buffer')
  const rsaTemplate: Template = [
    { type: binding.CKA_MODULUS_BITS, value: rsaBits },
    { type: binding.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
  ]
  const rsa = {
    keyType: binding.CKK_RSA,
    generate: { mechanism: binding.CKM_RSA_PKCS_KEY_PAIR_GEN },
  }
  switch (alg) {
    case 'ES256':
      return {
        alg,
        keyType: binding.CKK_EC,
        generate: { mechanism: binding.CKM_EC_KEY_PAIR_GEN },
        publicTemplate: [{ type: binding.CKA_EC_PARAMS, value: Buffer.from(P256_PARAMS) }],
        signMechanism: binding.CKM_ECDSA,
        mechanism: { mechanism: binding.CKM_ECDSA },
        prepare: sha256,
        outputLength: 132,
        acceptsCurve: (params) => Buffer.from(params).equals(P256_PARAMS),
      }
    case 'PS256':
      return {
        alg,
        ...rsa,
        publicTemplate: rsaTemplate,
        signMechanism: binding.CKM_RSA_PKCS_PSS,
        mechanism: {
          mechanism: binding.CKM_RSA_PKCS_PSS,
          parameter: {
            type: binding.CK_PARAMS_RSA_PSS,
            hashAlg: binding.CKM_SHA256,
            mgf: binding.CKG_MGF1_SHA256,
            saltLen: 32,
          } as NonNullable<Mechanism['parameter']>,
        },
        prepare: sha256,
        outputLength: 1024,
      }
    case 'RS256':
      return {
        alg,
        ...rsa,
        publicTemplate: rsaTemplate,
        signMechanism: binding.CKM_SHA256_RSA_PKCS,
        mechanism: { mechanism: binding.CKM_SHA256_RSA_PKCS },
        prepare: (input) => Buffer.from(input),
        outputLength: 1024,
      }
    case 'EdDSA':
      return {
        alg,
        keyType: CKK_EC_EDWARDS,
        generate: { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
        publicTemplate: [{ type: binding.CKA_EC_PARAMS, value: Buffer.from(ED25519_PARAMS) }],
        signMechanism: CKM_EDDSA,
        mechanism: { mechanism: CKM_EDDSA },
        prepare: (input) => Buffer.from(input),
        outputLength: 64,
        acceptsCurve: (params) =>
          Buffer.from(params).equals(ED25519_PARAMS) || Buffer.from(params).equals(ED25519_NAME),
      }
  }
}

/**
 * The JWS form of a token's signature. PKCS#11 returns ECDSA signatures as `r||s` already
 * (PKCS#11 3.0 §2.3.1); a token that answers with DER anyway is converted, anything else is
 * refused (RFC 7518 §3.4 needs exactly 64 bytes for ES256).
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.4
 */
export function toJoseSignature(alg: Pkcs11Algorithm, signature: Buffer): Uint8Array | undefined {
  if (alg !== 'ES256') return new Uint8Array(signature)
  if (signature.length === 64) return new Uint8Array(signature)
  return derToRaw(signature, 32)
}

function derToRaw(der: Buffer, size: number): Uint8Array | undefined {
  // SEQUENCE { INTEGER r, INTEGER s }, short-form lengths (an ES256 signature is < 128 bytes).
  if (der[0] !== 0x30 || der[1] !== der.length - 2) return undefined
  const out = new Uint8Array(size * 2)
  let offset = 2
  for (const half of [0, 1]) {
    if (der[offset] !== 0x02) return undefined
    const length = der[offset + 1] ?? 0
    let value = der.subarray(offset + 2, offset + 2 + length)
    offset += 2 + length
    while (value.length > size && value[0] === 0) value = value.subarray(1)
    if (value.length > size || value.length === 0) return undefined
    out.set(value, half * size + size - value.length)
  }
  return offset === der.length ? out : undefined
}
