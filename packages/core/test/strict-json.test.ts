/**
 * The strict JSON parser on its own: RFC 8259 numbers read by hand, duplicate member names
 * refused (also names that exist on Object.prototype), and `JSON.parse`'s answer otherwise.
 */
import { describe, expect, it } from 'vitest'
import { parseStrictJson, StrictJsonError } from '../src/lib/strict-json.js'

describe('parseStrictJson', () => {
  it.each(['0', '-0', '7', '-12', '1.5', '-0.25', '1e10', '1E+2', '2e-3', '-1.5e-3', '10.01E01'])(
    'reads the number %s as JSON.parse does',
    (text) => {
      expect(parseStrictJson(text)).toBe(JSON.parse(text))
      expect(parseStrictJson(`{"iat":${text}}`)).toEqual({ iat: JSON.parse(text) })
    },
  )

  it.each([
    '01',
    '-01',
    '1.',
    '.5',
    '+1',
    '1e',
    '1e+',
    '-',
    '--1',
    '0x10',
    'NaN',
    'Infinity',
    '1.e3',
  ])('refuses the number %s', (text) => {
    expect(() => parseStrictJson(`{"iat":${text}}`)).toThrow(StrictJsonError)
  })

  it('refuses a number out of range', () => {
    expect(() => parseStrictJson('1e309')).toThrow('number out of range')
  })

  it.each([
    '{"a":1,"a":2}',
    '{"jti":"x","htm":"GET","jti":"y"}',
    '{"toString":1,"toString":2}',
    '{"__proto__":1,"__proto__":2}',
    '{"constructor":null,"constructor":null}',
    '{"o":{"k":true,"k":false}}',
    '{"j\\u0074i":"x","jti":"y"}',
    '{"jti":"x","j\\u0074i":"y"}',
    '{"htm":"GET","jwk":{"kty":"EC","kty":"EC"}}',
  ])('refuses duplicate member names: %s', (text) => {
    expect(() => parseStrictJson(text)).toThrow('duplicate member name')
  })

  it('keeps members named like Object.prototype properties as own data, prototype untouched', () => {
    const value = parseStrictJson(
      '{"__proto__":{"polluted":true},"toString":"x","hasOwnProperty":0}',
    ) as Record<string, unknown>
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(Object.keys(value)).toEqual(['__proto__', 'toString', 'hasOwnProperty'])
    expect(value.toString).toBe('x')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('parses a proof payload as JSON.parse does', () => {
    const text =
      '{"jti":"e1j3V_bKic8-LAEB","htm":"GET","htu":"https://rs.example/x","iat":1562262618,"ath":"fUHy","n":[1,-2.5e3,null,true,false,"\\u00e9\\n"]}'
    expect(parseStrictJson(text)).toEqual(JSON.parse(text))
  })

  it('parses correctly when a getter on Object.prototype calls the parser mid-parse', () => {
    const inner: unknown[] = []
    Object.defineProperty(Object.prototype, 'reenter', {
      get() {
        inner.push(parseStrictJson('{"jti":"inner","n":[1,{"k":2}]}'))
        return 'inherited'
      },
      configurable: true,
    })
    let outer: unknown
    try {
      outer = parseStrictJson('{"jti":"outer","reenter":{"x":[true]},"tail":"end"}')
    } finally {
      delete (Object.prototype as Record<string, unknown>).reenter
    }
    expect(inner).toEqual([{ jti: 'inner', n: [1, { k: 2 }] }])
    expect(Object.entries(outer as object)).toEqual([
      ['jti', 'outer'],
      ['reenter', { x: [true] }],
      ['tail', 'end'],
    ])
  })
})
