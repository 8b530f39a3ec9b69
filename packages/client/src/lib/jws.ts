/**
 * Compact JWS signing for client assertions (RFC 7523 `private_key_jwt`), with a WebCrypto key
 * pair or any signer, so the client-authentication key can live in a KMS like the proof key.
 * The WebCrypto parameters come from core's algorithm table, so an algorithm core learns is one
 * the client can sign with.
 */
import type { DPoPKeyPair, ProofSigner } from '@keybound/core'
import { findAlgorithm, invalidArgument, webCryptoSignParams } from '@keybound/core/internal'
import { encodeBase64url, encodeTextBase64url } from './base64url.js'

/** Signs `input` with the key pair's private key, or hands it to the signer. */
async function signBytes(key: DPoPKeyPair | ProofSigner, input: Uint8Array): Promise<Uint8Array> {
  if (!('privateKey' in key) || typeof key.privateKey !== 'object')
    return (key as ProofSigner).sign(input)
  const spec = findAlgorithm(key.alg)
  // Fails closed: an unknown `alg` would otherwise fall through to some other algorithm.
  if (spec === undefined)
    throw invalidArgument('key', `of an "alg" client assertions support, not ${String(key.alg)}`)
  const params = webCryptoSignParams(spec)
  return new Uint8Array(
    await globalThis.crypto.subtle.sign(params, key.privateKey, input as Uint8Array<ArrayBuffer>),
  )
}

/** Signs `payload` as a compact JWS with the key's `alg`. */
export async function signJws(
  key: DPoPKeyPair | ProofSigner,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const input = `${encodeTextBase64url(JSON.stringify({ ...header, alg: key.alg }))}.${encodeTextBase64url(JSON.stringify(payload))}`
  const signature = await signBytes(key, new TextEncoder().encode(input))
  return `${input}.${encodeBase64url(signature)}`
}
