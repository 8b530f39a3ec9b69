/**
 * Checks on the `jwk` header of a proof, before any key is imported: the key must be public
 * (§4.2, §4.3 item 7), fit the `alg` (RFC 7518 §3.4, RFC 8037), be canonically encoded (RFC 7518
 * §6.2.1.2 full-length coordinates, §6.3.1 minimal Base64urlUInt), and RSA keys must have a
 * modulus of at least 2048 bits (RFC 7518 §3.3) and at most 8192 (so a proof cannot make us
 * spend seconds on one signature).
 */
import { RSA_MAX_BITS, RSA_MIN_BITS, type AlgorithmSpec } from '../algorithms.js'
import { ProofHeaderInvalid } from '../errors.js'
import type { PublicJwk } from '../types.js'
import { decodeBase64urlPortable, isCanonicalBase64url } from './base64url.js'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

function reject(reason: string, details?: Record<string, unknown>): never {
  throw new ProofHeaderInvalid(`"jwk" (JSON Web Key) header parameter invalid: ${reason}`, {
    claim: 'jwk',
    reason,
    ...(details === undefined ? {} : { details }),
  })
}

function decodedLength(text: unknown, member: string): Uint8Array {
  if (typeof text !== 'string' || text.length === 0) reject(`missing "${member}"`)
  if (!isCanonicalBase64url(text)) reject(`"${member}" is not canonical base64url`)
  return decodeBase64urlPortable(text)
}

function bitLength(bytes: Uint8Array): number {
  return bytes.length === 0 ? 0 : (bytes.length - 1) * 8 + (32 - Math.clz32(bytes[0]!))
}

function checkRsa(jwk: PublicJwk): void {
  const n = decodedLength(jwk.n, 'n')
  const e = decodedLength(jwk.e, 'e')
  if (n[0] === 0 || e[0] === 0) reject('leading zero octets in "n" or "e"')
  const bits = bitLength(n)
  if (bits < RSA_MIN_BITS) reject('RSA modulus shorter than 2048 bits', { bits })
  if (bits > RSA_MAX_BITS) reject('RSA modulus longer than 8192 bits', { bits })
  if (e.length > 4 || (e[e.length - 1]! & 1) === 0 || bitLength(e) < 2)
    reject('unusable RSA exponent')
}

function checkCurve(jwk: PublicJwk, spec: AlgorithmSpec): void {
  if (jwk.crv !== spec.crv)
    reject(`"crv" does not fit "alg" ${spec.alg}`, { crv: jwk.crv, alg: spec.alg })
  if (decodedLength(jwk.x, 'x').length !== spec.coordinateLength) reject('"x" has the wrong length')
  if (spec.kty === 'EC' && decodedLength(jwk.y, 'y').length !== spec.coordinateLength) {
    reject('"y" has the wrong length')
  }
  if (spec.kty === 'OKP' && jwk.y !== undefined) reject('unexpected "y" in an OKP key')
}

/**
 * Throws `ProofHeaderInvalid` (claim `jwk`) unless `jwk` is a well-formed public key that fits
 * `spec`.
 */
export function checkProofJwk(jwk: unknown, spec: AlgorithmSpec): asserts jwk is PublicJwk {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    reject('missing or not an object')
  const key = jwk as PublicJwk
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(key, member)) reject('contains a private key', { member })
  }
  if (key.kty !== spec.kty)
    reject(`"kty" does not fit "alg" ${spec.alg}`, { kty: key.kty, alg: spec.alg })
  if (spec.kty === 'RSA') checkRsa(key)
  else checkCurve(key, spec)
}
