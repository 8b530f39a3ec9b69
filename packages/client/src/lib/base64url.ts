/** Portable base64url (RFC 4648 §5, unpadded): no `Buffer`, so it runs in browsers unchanged. */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const encoder = new TextEncoder()

/** Encodes bytes as unpadded base64url. */
export function encodeBase64url(bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out +=
      ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!
  }
  return out
}

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
