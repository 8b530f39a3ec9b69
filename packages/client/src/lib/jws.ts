/**
 * Compact JWS signing for client assertions (RFC 7523 `private_key_jwt`), with a WebCrypto key
 * pair or any signer, so the client-authentication key can live in a KMS like the proof key.
 */
import type { DPoPAlgorithm, DPoPKeyPair, ProofSigner } from '@keybound/core'
import { encodeBase64url, encodeTextBase64url } from './base64url.js'

function signParams(alg: DPoPAlgorithm): AlgorithmIdentifier | EcdsaParams | RsaPssParams {
  const bits = alg.slice(2)
  if (alg === 'EdDSA') return { name: 'Ed25519' }
  if (alg.startsWith('ES')) return { name: 'ECDSA', hash: `SHA-${bits === '512' ? '512' : bits}` }
  if (alg.startsWith('PS')) return { name: 'RSA-PSS', saltLength: Number(bits) / 8 }
  return { name: 'RSASSA-PKCS1-v1_5' }
}

/** Signs `payload` as a compact JWS with the key's `alg`. */
export async function signJws(
  key: DPoPKeyPair | ProofSigner,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const input = `${encodeTextBase64url(JSON.stringify({ ...header, alg: key.alg }))}.${encodeTextBase64url(JSON.stringify(payload))}`
  const bytes = new TextEncoder().encode(input)
  const signature =
    'privateKey' in key && typeof key.privateKey === 'object'
      ? new Uint8Array(
          await globalThis.crypto.subtle.sign(signParams(key.alg), key.privateKey, bytes),
        )
      : await (key as ProofSigner).sign(bytes)
  return `${input}.${encodeBase64url(signature)}`
}
