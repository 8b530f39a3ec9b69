/**
 * A strict JSON parser (RFC 8259) for the small objects inside a JWS. It exists because
 * `JSON.parse` silently keeps the last of two members with the same name, and RFC 7515 §4
 * allows that only if every party does the same; two parsers that disagree let one proof mean
 * two things. Here a duplicate member name is an error, as are a depth over `maxDepth`,
 * trailing data and anything RFC 8259 does not allow.
 */

import { ProofMalformed } from '../errors.js'

/**
 * Thrown by {@link parseStrictJson}: a malformed proof part, so it stays in the one error family
 * even where a caller does not reword it. The message is the problem (`duplicate member name`).
 */
export class StrictJsonError extends ProofMalformed {}

const MAX_DEPTH = 32

/** Parses `text` as one JSON value, rejecting duplicate member names. */
export function parseStrictJson(text: string, maxDepth = MAX_DEPTH): unknown {
  // A getter someone put on Object.prototype could call back in mid-parse: that call gets a
  // parser of its own rather than the shared one's state.
  const parser = PARSER.busy ? new Parser() : PARSER
  parser.start(text, maxDepth)
  try {
    parser.skipWhitespace()
    const value = parser.parseValue(0)
    parser.skipWhitespace()
    if (parser.position !== text.length) throw new StrictJsonError('trailing data')
    retained.lastValue = value
    return value
  } finally {
    parser.stop()
  }
}

// Names with three letters that proofs and their headers use; others take the general path.
// Keyed by the three character codes packed in one number (codes above 0x3ff never match).
const THREE_LETTER_NAMES = new Map(
  ['jti', 'htm', 'htu', 'iat', 'ath', 'typ', 'alg', 'jwk', 'kty', 'crv', 'exp', 'nbf', 'kid'].map(
    (name) => [packThree(name.charCodeAt(0), name.charCodeAt(1), name.charCodeAt(2)), name],
  ),
)

function packThree(a: number, b: number, c: number): number {
  return a > 0x3ff || b > 0x3ff || c > 0x3ff ? -1 : (a << 20) | (b << 10) | c
}

// The value of an optionally negative run of at most 15 digits (exact in a double).
function integerValue(text: string, start: number, end: number): number {
  const negative = text.charCodeAt(start) === 0x2d
  let value = 0
  for (let at = negative ? start + 1 : start; at < end; at++)
    value = value * 10 + (text.charCodeAt(at) - 0x30)
  return negative ? -value : value
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39
}

function skipDigits(text: string, from: number): number {
  let at = from
  while (isDigit(text.charCodeAt(at))) at++
  return at
}

// One parser is reused for every parse (see PARSER below); `busy` guards its state.
class Parser {
  position = 0
  busy = false
  private text = ''
  private maxDepth = MAX_DEPTH

  start(text: string, maxDepth: number): void {
    this.text = text
    this.maxDepth = maxDepth
    this.position = 0
    this.busy = true
  }

  stop(): void {
    this.text = ''
    this.busy = false
  }

  skipWhitespace(): void {
    const text = this.text
    let code = text.charCodeAt(this.position)
    while (code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09) {
      code = text.charCodeAt(++this.position)
    }
  }

  parseValue(depth: number): unknown {
    const code = this.text.charCodeAt(this.position)
    if (code === 0x7b) return this.parseObject(depth + 1)
    if (code === 0x5b) return this.parseArray(depth + 1)
    if (code === 0x22) return this.parseString()
    if (code === 0x74) return this.parseLiteral('true', true)
    if (code === 0x66) return this.parseLiteral('false', false)
    if (code === 0x6e) return this.parseLiteral('null', null)
    return this.parseNumber()
  }

  private parseObject(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) throw new StrictJsonError('too deeply nested')
    this.position++
    const result: Record<string, unknown> = {}
    this.skipWhitespace()
    if (this.text.charCodeAt(this.position) === 0x7d) {
      this.position++
      return result
    }
    for (;;) {
      if (this.text.charCodeAt(this.position) !== 0x22)
        throw new StrictJsonError('member name expected')
      const name = this.parseMemberName()
      // Every member becomes an own property, so an own property of that name is a duplicate.
      // JSON values are never `undefined`: one read tells "new name, nothing inherited" apart.
      const existing = result[name]
      if (existing !== undefined && Object.hasOwn(result, name))
        throw new StrictJsonError('duplicate member name')
      this.skipWhitespace()
      if (this.text.charCodeAt(this.position) !== 0x3a) throw new StrictJsonError('":" expected')
      this.position++
      this.skipWhitespace()
      const value = this.parseValue(depth)
      // A plain assignment of "__proto__" would change the prototype instead of adding a member
      // (and one of another inherited name would fail on a frozen prototype): names that exist on
      // the prototype chain are defined; any other name is assigned, which makes the same kind of
      // own, enumerable, writable, configurable property, only faster.
      if (existing !== undefined) {
        Object.defineProperty(result, name, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      } else {
        result[name] = value
      }
      this.skipWhitespace()
      const code = this.text.charCodeAt(this.position++)
      if (code === 0x7d) return result
      if (code !== 0x2c) throw new StrictJsonError('"," or "}" expected')
      this.skipWhitespace()
    }
  }

  private parseArray(depth: number): unknown[] {
    if (depth > this.maxDepth) throw new StrictJsonError('too deeply nested')
    this.position++
    const result: unknown[] = []
    this.skipWhitespace()
    if (this.text.charCodeAt(this.position) === 0x5d) {
      this.position++
      return result
    }
    for (;;) {
      this.skipWhitespace()
      result.push(this.parseValue(depth))
      this.skipWhitespace()
      const code = this.text.charCodeAt(this.position++)
      if (code === 0x5d) return result
      if (code !== 0x2c) throw new StrictJsonError('"," or "]" expected')
    }
  }

  // The member names of proofs and their headers come back as the same constant strings every
  // time: no new string per member, and property access needs no string-table lookup.
  private parseMemberName(): string {
    const text = this.text
    const start = this.position + 1
    if (text.charCodeAt(start + 3) === 0x22) {
      const known = THREE_LETTER_NAMES.get(
        packThree(text.charCodeAt(start), text.charCodeAt(start + 1), text.charCodeAt(start + 2)),
      )
      if (known !== undefined) {
        this.position = start + 4
        return known
      }
    }
    return this.parseString()
  }

  private parseString(): string {
    const text = this.text
    let start = ++this.position
    let out = ''
    for (;;) {
      const code = text.charCodeAt(this.position)
      if (Number.isNaN(code)) throw new StrictJsonError('unterminated string')
      if (code === 0x22) {
        out += text.slice(start, this.position++)
        return out
      }
      if (code < 0x20) throw new StrictJsonError('control character in string')
      if (code === 0x5c) {
        out += text.slice(start, this.position)
        out += this.parseEscape()
        start = this.position
        continue
      }
      this.position++
    }
  }

  private parseEscape(): string {
    const escape = this.text.charCodeAt(this.position + 1)
    this.position += 2
    switch (escape) {
      case 0x22:
        return '"'
      case 0x5c:
        return '\\'
      case 0x2f:
        return '/'
      case 0x62:
        return '\b'
      case 0x66:
        return '\f'
      case 0x6e:
        return '\n'
      case 0x72:
        return '\r'
      case 0x74:
        return '\t'
      case 0x75: {
        const hex = this.text.slice(this.position, this.position + 4)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new StrictJsonError('bad \\u escape')
        this.position += 4
        return String.fromCharCode(parseInt(hex, 16))
      }
      default:
        throw new StrictJsonError('bad escape')
    }
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.position)) throw new StrictJsonError('unexpected token')
    this.position += word.length
    return value
  }

  // RFC 8259 §6: `-? int frac? exp?`, read by character class (no match array per number).
  private parseNumber(): number {
    const text = this.text
    const start = this.position
    let at = start
    if (text.charCodeAt(at) === 0x2d) at++
    if (text.charCodeAt(at) === 0x30) at++
    else if (isDigit(text.charCodeAt(at))) at = skipDigits(text, at)
    else throw new StrictJsonError('unexpected token')
    let integerOnly = true
    if (text.charCodeAt(at) === 0x2e) {
      if (!isDigit(text.charCodeAt(at + 1))) throw new StrictJsonError('unexpected token')
      at = skipDigits(text, at + 1)
      integerOnly = false
    }
    const e = text.charCodeAt(at)
    if (e === 0x65 || e === 0x45) {
      integerOnly = false
      at++
      const sign = text.charCodeAt(at)
      if (sign === 0x2b || sign === 0x2d) at++
      if (!isDigit(text.charCodeAt(at))) throw new StrictJsonError('unexpected token')
      at = skipDigits(text, at)
    }
    this.position = at
    // Short plain integers (iat, exp) are summed up digit by digit: no substring to convert.
    if (at - start <= 15 && integerOnly) return integerValue(text, start, at)
    const value = Number(text.slice(start, at))
    if (!Number.isFinite(value)) throw new StrictJsonError('number out of range')
    return value
  }
}

const PARSER = new Parser()

// V8 holds the object shapes a parse creates only weakly: once no object of a shape is left, a
// full garbage collection drops the shape and, with it, the optimized parser code built for it,
// which is then compiled again. The parser instance above lives for good; the last value parsed
// (one proof's claims or header) is kept here so that its shapes survive a quiet moment too.
const retained: { lastValue: unknown } = { lastValue: undefined }
