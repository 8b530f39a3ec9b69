/**
 * JWK thumbprints (RFC 7638) and access-token hashes (`ath`, RFC 9449 §4.2). SHA-256 only:
 * RFC 9449 has no algorithm agility for `jkt`, `ath` or `dpop_jkt` (§11.8, §11.10).
 * @packageDocumentation
 */
import type { CryptoBackend } from './backends/backend.js'
import { invalidArgument } from './lib/arguments.js'

const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
  oct: ['k', 'kty'],
}

/**
 * The RFC 7638 §3.2 input: only the required members, sorted, no whitespace, values exactly as
 * received (so a non-canonical encoding yields a different thumbprint, as it must).
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3.2
 */
export function canonicalThumbprintInput(jwk: Record<string, unknown>): string {
  const members = typeof jwk.kty === 'string' ? REQUIRED_MEMBERS[jwk.kty] : undefined
  if (members === undefined)
    throw invalidArgument('jwk.kty', 'EC, RSA, OKP or oct', { claim: 'kty' })
  const parts: string[] = []
  for (const member of members) {
    const value = jwk[member]
    if (typeof value !== 'string') {
      throw invalidArgument(`jwk.${member}`, 'a string', { claim: member })
    }
    parts.push(`${JSON.stringify(member)}:${JSON.stringify(value)}`)
  }
  return `{${parts.join(',')}}`
}

const encoder = new TextEncoder()

/** RFC 7638 SHA-256 thumbprint, base64url (the `cnf.jkt` / `dpop_jkt` value). */
export async function thumbprintWith(
  backend: CryptoBackend,
  jwk: Record<string, unknown>,
): Promise<string> {
  return backend.encodeBase64url(
    await backend.sha256(encoder.encode(canonicalThumbprintInput(jwk))),
  )
}

/**
 * `athWith`, without a promise when the backend can hash synchronously (the hot path of
 * verification); same result, same `InvalidArgument` (as a rejected promise) for a bad token.
 */
export function athOf(backend: CryptoBackend, accessToken: string): string | Promise<string> {
  if (
    typeof accessToken !== 'string' ||
    accessToken.length === 0 ||
    backend.sha256TextBase64url === undefined
  ) {
    return athWith(backend, accessToken)
  }
  return backend.sha256TextBase64url(accessToken)
}

/** `ath`: base64url(SHA-256(ASCII(access token))). */
export async function athWith(backend: CryptoBackend, accessToken: string): Promise<string> {
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw invalidArgument('accessToken', 'a non-empty string')
  }
  return backend.encodeBase64url(await backend.sha256(encoder.encode(accessToken)))
}
