/**
 * A `WWW-Authenticate` parser (RFC 9110 §11.6.1). It handles several challenges in one field
 * value and in several field lines, quoted strings with backslash escapes, `token68`
 * credentials, case-insensitive scheme and parameter names, and bad-whitespace around `=`.
 * Malformed pieces are skipped up to the next comma rather than failing the whole header,
 * because one odd challenge from a proxy must not hide the `DPoP` challenge next to it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 * @packageDocumentation
 */

/** One parsed challenge. */
export interface Challenge {
  /** The auth-scheme as sent (compare it case-insensitively, or use {@link findChallenge}). */
  readonly scheme: string
  /** Auth-params by lower-cased name; quoted values are unescaped. The first of duplicates wins. */
  readonly params: Readonly<Record<string, string>>
  /** The token68 form (`Negotiate abc==`), when the challenge uses it instead of params. */
  readonly token68?: string
  /** The `algs` parameter split on spaces (RFC 9449 §7.1), when present. */
  readonly algs?: readonly string[]
}

// RFC 9110 §5.6.2 tchar, and RFC 9110 §11.2 token68 characters.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/
const MAX_LENGTH = 16 * 1024

class Cursor {
  position = 0
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.position >= this.text.length
  }

  peek(offset = 0): string {
    return this.text[this.position + offset] ?? ''
  }

  skipWhitespace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.position++
  }

  readWhile(pattern: RegExp, from = this.position): string {
    let end = from
    while (end < this.text.length && pattern.test(this.text[end]!)) end++
    const out = this.text.slice(this.position, end)
    this.position = end
    return out
  }

  /** Skips to just past the next top-level comma (commas inside quoted strings do not count). */
  recover(): void {
    let quoted = false
    while (!this.done) {
      const char = this.text[this.position++]
      if (quoted && char === '\\') this.position++
      else if (char === '"') quoted = !quoted
      else if (char === ',' && !quoted) return
    }
  }
}

function readQuoted(cursor: Cursor): string | undefined {
  cursor.position++ // opening quote
  let out = ''
  while (!cursor.done) {
    const char = cursor.text[cursor.position++]!
    if (char === '"') return out
    if (char === '\\') {
      if (cursor.done) return undefined
      out += cursor.text[cursor.position++]
    } else out += char
  }
  return undefined // unterminated
}

/** Where the token at `cursor` would be followed by `=` (an auth-param), or -1. */
function paramNameEnd(cursor: Cursor): number {
  let end = cursor.position
  while (end < cursor.text.length && TCHAR.test(cursor.text[end]!)) end++
  if (end === cursor.position) return -1
  let next = end
  while (cursor.text[next] === ' ' || cursor.text[next] === '\t') next++
  if (cursor.text[next] !== '=') return -1
  // `name==` or `name=` followed by the end or a comma is token68, not a parameter.
  let after = next + 1
  if (cursor.text[after] === '=') return -1
  while (cursor.text[after] === ' ' || cursor.text[after] === '\t') after++
  if (after >= cursor.text.length || cursor.text[after] === ',') return -1
  return end
}

/** Reads `name BWS = BWS value`; returns undefined (cursor past the next comma) when malformed. */
function readParam(cursor: Cursor): [string, string] | undefined {
  const name = cursor.readWhile(TCHAR).toLowerCase()
  cursor.skipWhitespace()
  cursor.position++ // '='
  cursor.skipWhitespace()
  const value = cursor.peek() === '"' ? readQuoted(cursor) : cursor.readWhile(TCHAR)
  if (value === undefined || (value === '' && cursor.text[cursor.position - 1] !== '"')) {
    cursor.recover()
    return undefined
  }
  return [name, value]
}

function readToken68(cursor: Cursor): string | undefined {
  const start = cursor.position
  cursor.readWhile(TOKEN68_CHAR)
  while (cursor.peek() === '=') cursor.position++
  const value = cursor.text.slice(start, cursor.position)
  cursor.skipWhitespace()
  if (value === '' || !(cursor.done || cursor.peek() === ',')) {
    cursor.position = start
    return undefined
  }
  return value
}

function makeChallenge(
  scheme: string,
  params: Record<string, string>,
  token68?: string,
): Challenge {
  const challenge: {
    scheme: string
    params: Record<string, string>
    token68?: string
    algs?: string[]
  } = {
    scheme,
    params: Object.freeze(params),
  }
  if (token68 !== undefined) challenge.token68 = token68
  if (params.algs !== undefined) challenge.algs = params.algs.split(' ').filter((alg) => alg !== '')
  return Object.freeze(challenge)
}

function readParams(cursor: Cursor): Record<string, string> {
  const params: Record<string, string> = Object.create(null)
  for (;;) {
    cursor.skipWhitespace()
    if (paramNameEnd(cursor) === -1) return params
    const param = readParam(cursor)
    if (param !== undefined && !(param[0] in params)) params[param[0]] = param[1]
    cursor.skipWhitespace()
    // After a parameter: a comma, then either another parameter of this challenge or a new scheme.
    while (cursor.peek() === ',') {
      cursor.position++
      cursor.skipWhitespace()
    }
  }
}

function readChallenge(cursor: Cursor): Challenge | undefined {
  const scheme = cursor.readWhile(TCHAR)
  if (scheme === '') {
    cursor.recover()
    return undefined
  }
  const hasSpace = cursor.peek() === ' ' || cursor.peek() === '\t'
  cursor.skipWhitespace()
  if (cursor.done || cursor.peek() === ',' || !hasSpace) {
    if (!cursor.done && cursor.peek() !== ',') {
      cursor.recover()
      return undefined
    }
    return makeChallenge(scheme, Object.create(null))
  }
  if (paramNameEnd(cursor) === -1) {
    const token68 = readToken68(cursor)
    if (token68 === undefined) {
      cursor.recover()
      return makeChallenge(scheme, Object.create(null))
    }
    return makeChallenge(scheme, Object.create(null), token68)
  }
  return makeChallenge(scheme, readParams(cursor))
}

/**
 * Parses `WWW-Authenticate` (a `Headers` object, one or more field values, or `null`) into its
 * challenges, in order. Never throws on malformed input: bad pieces are skipped.
 *
 * @example
 * ```ts
 * parseWwwAuthenticate('Bearer error="invalid_token", DPoP algs="ES256 PS256"')
 * // [{ scheme: 'Bearer', params: { error: 'invalid_token' } },
 * //  { scheme: 'DPoP', params: { algs: 'ES256 PS256' }, algs: ['ES256', 'PS256'] }]
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
 */
export function parseWwwAuthenticate(
  value: Headers | string | readonly string[] | null | undefined,
): Challenge[] {
  if (value === null || value === undefined) return []
  let fields: readonly string[]
  if (typeof value === 'string') fields = [value]
  else if (Array.isArray(value)) fields = value
  else fields = [(value as Headers).get('www-authenticate') ?? '']
  const challenges: Challenge[] = []
  for (const field of fields) {
    // Oversized headers are refused wholesale: nothing legitimate needs 16 KiB of challenges.
    if (typeof field !== 'string' || field.length > MAX_LENGTH) continue
    const cursor = new Cursor(field)
    for (;;) {
      while (cursor.peek() === ',' || cursor.peek() === ' ' || cursor.peek() === '\t')
        cursor.position++
      if (cursor.done) break
      const challenge = readChallenge(cursor)
      if (challenge !== undefined) challenges.push(challenge)
    }
  }
  return challenges
}

/**
 * The first challenge with the given scheme, compared case-insensitively (RFC 9110 §11.1).
 * @example
 * ```ts
 * const dpop = findChallenge(parseWwwAuthenticate(response.headers), 'DPoP')
 * if (dpop?.params.error === 'use_dpop_nonce') retry()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function findChallenge(
  challenges: readonly Challenge[],
  scheme: string,
): Challenge | undefined {
  const wanted = scheme.toLowerCase()
  return challenges.find((challenge) => challenge.scheme.toLowerCase() === wanted)
}
