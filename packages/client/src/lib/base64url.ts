/** Portable base64url (RFC 4648 §5, unpadded): no `Buffer`, so it runs in browsers unchanged. */
import { encodeBase64url } from '@keybound/core'

const encoder = new TextEncoder()

export { encodeBase64url }

/** base64url of the UTF-8 bytes of a string. */
export function encodeTextBase64url(text: string): string {
  return encodeBase64url(encoder.encode(text))
}

/** `length` random bytes as base64url (state, PKCE verifier, `jti`). */
export function randomBase64url(length: number): string {
  return encodeBase64url(globalThis.crypto.getRandomValues(new Uint8Array(length)))
}

/** base64url(SHA-256(ASCII(text))), the PKCE S256 transform (RFC 7636 §4.2). */
export async function sha256Base64url(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', encoder.encode(text))
  return encodeBase64url(new Uint8Array(digest))
}
