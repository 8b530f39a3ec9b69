/**
 * Proof creation (RFC 9449 §4.2): a fresh `jti` and `iat` for every request, `htu` without
 * query and fragment, `ath` when an access token goes with the request, `nonce` when the server
 * sent one.
 * @packageDocumentation
 */
import { findAlgorithm } from './algorithms.js'
import type { CryptoBackend } from './backends/backend.js'
import { KeyboundError, KeyUnsupported } from './errors.js'
import { invalidArgument } from './lib/arguments.js'
import { stripQueryAndFragment } from './htu.js'
import { toPublicJwk } from './keys.js'
import { athOf } from './thumbprint.js'
import type { CreateProofOptions, DPoPKeyPair, ProofSigner } from './types.js'

const RESERVED_CLAIMS = new Set(['jti', 'htm', 'htu', 'iat', 'ath', 'nonce'])
const RESERVED_HEADER = new Set(['typ', 'alg', 'jwk'])
// RFC 9110 §5.6.2 token: what an HTTP method can be.
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

// The encoded header only depends on the key, so it is built once per key or signer.
const encodedHeaders = new WeakMap<object, string>()

function isKeyPair(key: DPoPKeyPair | ProofSigner): key is DPoPKeyPair {
  return 'privateKey' in key && typeof (key as DPoPKeyPair).privateKey === 'object'
}

function encodeHeader(
  backend: CryptoBackend,
  key: DPoPKeyPair | ProofSigner,
  extra?: Record<string, unknown>,
): string {
  if (extra === undefined) {
    const cached = encodedHeaders.get(key)
    if (cached !== undefined) return cached
  }
  const header: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(extra ?? {}))
    if (!RESERVED_HEADER.has(name)) header[name] = value
  const encoded = backend.encodeTextBase64url(
    JSON.stringify({ typ: 'dpop+jwt', alg: key.alg, jwk: toPublicJwk(key.publicJwk), ...header }),
  )
  if (extra === undefined) encodedHeaders.set(key, encoded)
  return encoded
}

function checkCreateOptions(key: DPoPKeyPair | ProofSigner, options: CreateProofOptions): void {
  if (typeof key !== 'object' || key === null)
    throw invalidArgument('key', 'a key pair or a signer')
  if (findAlgorithm(key.alg) === undefined) {
    throw new KeyUnsupported(`"alg" ${String(key.alg)} is not supported for DPoP proofs`, {
      claim: 'alg',
    })
  }
  if (!isKeyPair(key) && typeof (key as ProofSigner).sign !== 'function') {
    throw invalidArgument('key.sign', 'a function')
  }
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  if (typeof options.htm !== 'string' || !METHOD.test(options.htm)) {
    throw invalidArgument('htm', 'an HTTP method', { claim: 'htm' })
  }
}

/** Creates a signed DPoP proof (core binds the backend for you). */
export async function createProofWith(
  backend: CryptoBackend,
  key: DPoPKeyPair | ProofSigner,
  options: CreateProofOptions,
): Promise<string> {
  checkCreateOptions(key, options)
  const htu = stripQueryAndFragment(options.htu)
  if (!/^https?:\/\/[^/]/i.test(htu))
    throw invalidArgument('htu', 'an absolute http(s) URI', { claim: 'htu' })
  const claims: Record<string, unknown> = {
    jti: options.jti ?? backend.encodeBase64url(backend.randomBytes(16)),
    htm: options.htm,
    htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
  }
  if (options.accessToken !== undefined) {
    const ath = athOf(backend, options.accessToken)
    claims.ath = typeof ath === 'string' ? ath : await ath
  }
  if (options.nonce !== undefined) claims.nonce = options.nonce
  if (options.claims !== undefined) {
    for (const [name, value] of Object.entries(options.claims))
      if (!RESERVED_CLAIMS.has(name)) claims[name] = value
  }
  const signingInput = `${encodeHeader(backend, key, options.header)}.${backend.encodeTextBase64url(JSON.stringify(claims))}`
  const data = backend.asciiBytes(signingInput)
  const spec = findAlgorithm(key.alg)!
  try {
    const signature = isKeyPair(key)
      ? await backend.sign(spec, key.privateKey, data)
      : await key.sign(data)
    return `${signingInput}.${backend.encodeBase64url(signature)}`
  } catch (error) {
    // A signer's own Keybound error (a PKCS#11 token that went away) reaches the caller as is.
    if (error instanceof KeyboundError) throw error
    throw new KeyUnsupported('signing the proof failed', { cause: error })
  }
}
