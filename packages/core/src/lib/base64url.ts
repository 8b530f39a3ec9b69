/**
 * Strict base64url (RFC 4648 §5, no padding) as JWS requires (RFC 7515 §2). A value is only
 * accepted in its one canonical spelling: no padding, no characters outside the alphabet, no
 * impossible length, and no stray bits in the last character. Lenient decoders turn
 * `...Lg` and `...Lh` into the same bytes, which lets two different strings pass as one proof.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const BASE64URL = /^[A-Za-z0-9_-]*$/
const VALUE_OF = new Int16Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUE_OF[ALPHABET.charCodeAt(i)] = i

/** True when `text` is canonical unpadded base64url (the empty string is canonical). */
export function isCanonicalBase64url(text: string): boolean {
  const length = text.length
  // The regular expression runs natively; it is about twice as fast as a loop over the string.
  if (length % 4 === 1 || !BASE64URL.test(text)) return false
  return hasNoSpareBits(text)
}

/**
 * True when the last character of `text` leaves no stray bits: 2 trailing characters carry 4
 * spare bits and 3 carry 2, and a canonical encoder sets them to zero. A last character outside
 * the alphabet (value -1: every bit set) fails, and so does an impossible length.
 */
function hasNoSpareBits(text: string): boolean {
  const length = text.length
  if (length % 4 === 0) return true
  const last = VALUE_OF[text.charCodeAt(length - 1)] ?? -1
  if (length % 4 === 2) return (last & 0b1111) === 0
  if (length % 4 === 3) return (last & 0b11) === 0
  return false
}

// The 6-bit value of a character code, or -1 outside the alphabet (codes above 127 included).
function sextetOf(code: number): number {
  return code > 127 ? -1 : VALUE_OF[code]!
}

// Writes the three bytes of a group of four sextets.
function writeGroup(out: Uint8Array, at: number, group: number): void {
  out[at] = group >>> 16
  out[at + 1] = (group >>> 8) & 0xff
  out[at + 2] = group & 0xff
}

// The last two or three sextets (`c` unused for two): one or two bytes, and no stray bits. Any
// -1 among them makes the group negative. Returns the new end of `out`, or -1.
function writeTail(
  out: Uint8Array,
  at: number,
  tail: number,
  a: number,
  b: number,
  c: number,
): number {
  if (tail === 2) {
    const group = (a << 6) | b
    if (group < 0 || (group & 0b1111) !== 0) return -1
    out[at] = group >>> 4
    return at + 1
  }
  const group = (a << 12) | (b << 6) | c
  if (group < 0 || (group & 0b11) !== 0) return -1
  out[at] = group >>> 10
  out[at + 1] = (group >>> 2) & 0xff
  return at + 2
}

/**
 * Checks and decodes base64url in one pass, four characters at a time, into `out`: the number of
 * bytes written, or -1 when `text` is not canonical (a character outside the alphabet, a length
 * no encoder makes, stray bits in the last character) or does not fit in `out`.
 */
export function decodeCanonicalBase64urlInto(text: string, out: Uint8Array): number {
  const length = text.length
  const tail = length & 3
  if (tail === 1 || (length * 3) >>> 2 > out.length) return -1
  const whole = length - tail
  let at = 0
  for (let i = 0; i < whole; i += 4) {
    const a = text.charCodeAt(i)
    const b = text.charCodeAt(i + 1)
    const c = text.charCodeAt(i + 2)
    const d = text.charCodeAt(i + 3)
    // Codes above 127 are outside the table; inside it, -1 marks a non-alphabet character and
    // any -1 makes the whole group negative.
    if ((a | b | c | d) > 127) return -1
    const group = (VALUE_OF[a]! << 18) | (VALUE_OF[b]! << 12) | (VALUE_OF[c]! << 6) | VALUE_OF[d]!
    if (group < 0) return -1
    writeGroup(out, at, group)
    at += 3
  }
  if (tail === 0) return at
  const a = sextetOf(text.charCodeAt(whole))
  const b = sextetOf(text.charCodeAt(whole + 1))
  return writeTail(out, at, tail, a, b, tail === 3 ? sextetOf(text.charCodeAt(whole + 2)) : 0)
}

// The same table by byte: -1 for every byte that is not a base64url character.
const VALUE_OF_BYTE = new Int32Array(256).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUE_OF_BYTE[ALPHABET.charCodeAt(i)] = i

/**
 * `decodeCanonicalBase64urlInto` over the first `length` bytes of `bytes` (the text written as
 * Latin-1), for runtimes where reading bytes is cheaper than reading characters. `out` may be
 * `bytes` itself: each group is read before its three bytes are written, behind it.
 */
export function decodeCanonicalBase64urlBytesInto(
  bytes: Uint8Array,
  length: number,
  out: Uint8Array,
): number {
  const tail = length & 3
  if (tail === 1 || (length * 3) >>> 2 > out.length || length > bytes.length) return -1
  const whole = length - tail
  let at = 0
  for (let i = 0; i < whole; i += 4) {
    const group =
      (VALUE_OF_BYTE[bytes[i]!]! << 18) |
      (VALUE_OF_BYTE[bytes[i + 1]!]! << 12) |
      (VALUE_OF_BYTE[bytes[i + 2]!]! << 6) |
      VALUE_OF_BYTE[bytes[i + 3]!]!
    if (group < 0) return -1
    writeGroup(out, at, group)
    at += 3
  }
  if (tail === 0) return at
  const a = VALUE_OF_BYTE[bytes[whole]!]!
  const b = VALUE_OF_BYTE[bytes[whole + 1]!]!
  return writeTail(out, at, tail, a, b, tail === 3 ? VALUE_OF_BYTE[bytes[whole + 2]!]! : 0)
}

/** Decodes base64url that `isCanonicalBase64url` accepted (portable, no Buffer). */
export function decodeBase64urlPortable(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4))
  let bits = 0
  let buffered = 0
  let j = 0
  for (let i = 0; i < text.length; i++) {
    buffered = (buffered << 6) | VALUE_OF[text.charCodeAt(i)]!
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[j++] = (buffered >> bits) & 0xff
    }
  }
  return out
}

/**
 * Encodes bytes as unpadded base64url (portable, no Buffer).
 * @example
 * ```ts
 * encodeBase64url(crypto.getRandomValues(new Uint8Array(32))) // a PKCE verifier
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-2
 */
export function encodeBase64urlPortable(bytes: Uint8Array): string {
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
