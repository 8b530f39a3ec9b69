/**
 * The one-pass base64url decoder the node backend uses for proof payloads and signatures,
 * checked against two independent references: `isCanonicalBase64url` (a regular expression and
 * the spare-bits rule) for what is accepted, and Node's own decoder for the bytes; and its byte
 * twin, which reads the text copied as Latin-1, against the character version.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeCanonicalBase64urlBytesInto,
  decodeCanonicalBase64urlInto,
  isCanonicalBase64url,
} from '../src/lib/base64url.js'

const SEED = 20261127
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Decodes into a buffer just large enough; `undefined` when refused. */
function decode(text: string): Buffer | undefined {
  const out = Buffer.alloc((text.length * 3) >>> 2)
  const written = decodeCanonicalBase64urlInto(text, out)
  if (written < 0) return undefined
  expect(written).toBe(out.length)
  return out
}

// Strings close to base64url: mostly alphabet characters, with now and then one that is not
// (padding, standard base64, whitespace, controls, Latin-1, wide and astral characters).
const nearlyBase64url = fc
  .array(
    fc.oneof(
      { weight: 20, arbitrary: fc.constantFrom(...ALPHABET) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('=', '+', '/', ' ', '\n', '\0', '.', 'é', 'ÿ', 'Ł', '😀'),
      },
    ),
    { maxLength: 120 },
  )
  .map((characters) => characters.join(''))

describe('decodeCanonicalBase64urlInto', () => {
  it('decodes every byte string from its canonical spelling (2,000 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url')
        expect(decode(text)?.equals(Buffer.from(bytes))).toBe(true)
      }),
      { numRuns: 2000, seed: SEED },
    )
  })

  it('accepts exactly the canonical strings, with the bytes node decodes (5,000 runs)', () => {
    fc.assert(
      fc.property(fc.oneof(nearlyBase64url, fc.string({ unit: 'binary' })), (text) => {
        const decoded = decode(text)
        expect(decoded !== undefined).toBe(isCanonicalBase64url(text))
        if (decoded !== undefined) expect(decoded.equals(Buffer.from(text, 'base64url'))).toBe(true)
      }),
      { numRuns: 5000, seed: SEED },
    )
  })

  it.each([
    ['a length of 4n+1', 'QUJDR'],
    ['stray bits after two characters', 'QR'],
    ['stray bits after three characters', 'QUF'],
    ['padding', 'QQ=='],
    ['standard base64', 'ab+/'],
    ['a character whose low byte is in the alphabet', 'QUJ\u0141'],
    ['a character above U+FFFF', 'QU😀'],
    ['a NUL', 'QUJ\0'],
  ])('refuses %s', (_, text) => {
    expect(decode(text)).toBeUndefined()
  })

  it('refuses to write past the end of the output', () => {
    const out = new Uint8Array(2)
    expect(decodeCanonicalBase64urlInto('QUJD', out)).toBe(-1)
    expect(out).toEqual(new Uint8Array(2))
  })

  it('decodes the empty string to nothing', () => {
    expect(decodeCanonicalBase64urlInto('', new Uint8Array(0))).toBe(0)
  })
})

describe('decodeCanonicalBase64urlBytesInto', () => {
  // Only strings whose characters are all at most U+00FF can be copied as Latin-1 unchanged; the
  // node backend sends every other string to the character version.
  const latin1 = fc.oneof(
    nearlyBase64url.filter((text) => !/[\u0100-\uffff]/.test(text)),
    fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)) }),
  )

  it('answers as the character version on any Latin-1 text, into a separate buffer or in place (5,000 runs)', () => {
    fc.assert(
      fc.property(latin1, (text) => {
        const expected = decode(text)
        const bytes = Buffer.from(text, 'latin1')
        const out = Buffer.alloc((text.length * 3) >>> 2)
        const written = decodeCanonicalBase64urlBytesInto(bytes, bytes.length, out)
        expect(written >= 0).toBe(expected !== undefined)
        if (expected !== undefined) expect(out.equals(expected)).toBe(true)
        const inPlace = decodeCanonicalBase64urlBytesInto(bytes, bytes.length, bytes)
        expect(inPlace).toBe(written)
        if (expected !== undefined) expect(bytes.subarray(0, inPlace).equals(expected)).toBe(true)
      }),
      { numRuns: 5000, seed: SEED },
    )
  })

  it('reads only the first length bytes', () => {
    const bytes = Buffer.from('QUJD!!!!', 'latin1')
    const out = new Uint8Array(3)
    expect(decodeCanonicalBase64urlBytesInto(bytes, 4, out)).toBe(3)
    expect(Buffer.from(out).toString('latin1')).toBe('ABC')
    expect(decodeCanonicalBase64urlBytesInto(bytes, 9, new Uint8Array(9))).toBe(-1)
  })
})
