import { describe, expect, it } from 'vitest'
import { findChallenge, parseWwwAuthenticate } from '../src/index.js'

type Expected = {
  scheme: string
  params?: Record<string, string>
  token68?: string
  algs?: string[]
}

// Real-world values: the RFC 9449 figures (V9, V10), RFC 6750, RFC 7235/9110 examples, and what
// common servers and proxies send.
const TABLE: [string, string | string[], Expected[]][] = [
  [
    'RFC 9449 Fig. 15',
    'DPoP algs="ES256 PS256"',
    [{ scheme: 'DPoP', params: { algs: 'ES256 PS256' }, algs: ['ES256', 'PS256'] }],
  ],
  [
    'RFC 9449 Fig. 16',
    'DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"',
    [
      {
        scheme: 'DPoP',
        params: {
          error: 'invalid_token',
          error_description: 'Invalid DPoP key binding',
          algs: 'ES256',
        },
        algs: ['ES256'],
      },
    ],
  ],
  [
    'RFC 9449 Fig. 17',
    'Bearer, DPoP algs="ES256 PS256"',
    [
      { scheme: 'Bearer', params: {} },
      { scheme: 'DPoP', params: { algs: 'ES256 PS256' } },
    ],
  ],
  [
    'RFC 9449 Fig. 18',
    'Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256"',
    [
      { scheme: 'Bearer', params: { error: 'invalid_token', error_description: 'Invalid token' } },
      { scheme: 'DPoP', params: { algs: 'ES256 PS256' } },
    ],
  ],
  [
    'RFC 9449 Fig. 19',
    'Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP algs="ES256 PS256", error="invalid_request", error_description="Multiple methods used to include access token"',
    [
      {
        scheme: 'Bearer',
        params: {
          error: 'invalid_request',
          error_description: 'Multiple methods used to include access token',
        },
      },
      {
        scheme: 'DPoP',
        params: {
          algs: 'ES256 PS256',
          error: 'invalid_request',
          error_description: 'Multiple methods used to include access token',
        },
      },
    ],
  ],
  [
    'RFC 9449 Fig. 24',
    'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
    [
      {
        scheme: 'DPoP',
        params: {
          error: 'use_dpop_nonce',
          error_description: 'Resource server requires nonce in DPoP proof',
        },
      },
    ],
  ],
  [
    'RFC 6750 §3 realm',
    'Bearer realm="example"',
    [{ scheme: 'Bearer', params: { realm: 'example' } }],
  ],
  [
    'RFC 6750 §3 expired',
    'Bearer realm="example", error="invalid_token", error_description="The access token expired"',
    [
      {
        scheme: 'Bearer',
        params: {
          realm: 'example',
          error: 'invalid_token',
          error_description: 'The access token expired',
        },
      },
    ],
  ],
  [
    'RFC 9110 §11.6.1 example with escapes',
    'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
    [
      { scheme: 'Newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'Basic', params: { realm: 'simple' } },
    ],
  ],
  [
    'token68 (Negotiate)',
    'Negotiate YIIB9wYGKwYBBQUCoIIB6z==',
    [{ scheme: 'Negotiate', token68: 'YIIB9wYGKwYBBQUCoIIB6z==' }],
  ],
  [
    'token68 then another challenge',
    'Negotiate abc=, DPoP algs="ES256"',
    [
      { scheme: 'Negotiate', token68: 'abc=' },
      { scheme: 'DPoP', algs: ['ES256'] },
    ],
  ],
  [
    'OIDF: lower/odd-case scheme',
    'dPoP error="use_dpop_nonce"',
    [{ scheme: 'dPoP', params: { error: 'use_dpop_nonce' } }],
  ],
  [
    'case-insensitive param names, token values, BWS',
    'DPoP ERROR = use_dpop_nonce ,Algs="ES256"',
    [{ scheme: 'DPoP', params: { error: 'use_dpop_nonce', algs: 'ES256' } }],
  ],
  [
    'comma inside a quoted string',
    'DPoP error_description="a, b, and c", error="invalid_token"',
    [{ scheme: 'DPoP', params: { error_description: 'a, b, and c', error: 'invalid_token' } }],
  ],
  [
    'unknown parameters kept but harmless, duplicates: first wins',
    'DPoP foo="bar", error="invalid_token", error="insufficient_scope"',
    [{ scheme: 'DPoP', params: { foo: 'bar', error: 'invalid_token' } }],
  ],
  [
    'Digest (several params)',
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    [
      {
        scheme: 'Digest',
        params: { realm: 'http-auth@example.org', qop: 'auth, auth-int', algorithm: 'SHA-256' },
      },
    ],
  ],
  [
    'AWS / Azure style',
    'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", resource_id="00000003-0000-0000-c000-000000000000"',
    [
      {
        scheme: 'Bearer',
        params: { authorization_uri: 'https://login.microsoftonline.com/common/oauth2/authorize' },
      },
    ],
  ],
  [
    'GitHub container registry style',
    'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"',
    [
      {
        scheme: 'Bearer',
        params: {
          realm: 'https://ghcr.io/token',
          service: 'ghcr.io',
          scope: 'repository:user/image:pull',
        },
      },
    ],
  ],
  [
    'two header field lines',
    ['Bearer realm="api"', 'DPoP algs="ES256 EdDSA"'],
    [
      { scheme: 'Bearer', params: { realm: 'api' } },
      { scheme: 'DPoP', algs: ['ES256', 'EdDSA'] },
    ],
  ],
  [
    'combined field lines (Headers.get joins with ", ")',
    'Basic realm="x", Bearer, DPoP algs="ES256"',
    [{ scheme: 'Basic' }, { scheme: 'Bearer', params: {} }, { scheme: 'DPoP' }],
  ],
  [
    'empty quoted value',
    'DPoP error="", algs="ES256"',
    [{ scheme: 'DPoP', params: { error: '', algs: 'ES256' } }],
  ],
  [
    'stray commas and spaces',
    ' , ,Bearer ,, DPoP  algs="ES256" , ',
    [{ scheme: 'Bearer' }, { scheme: 'DPoP', algs: ['ES256'] }],
  ],
  [
    'algs with extra spaces',
    'DPoP algs="  ES256   PS256 "',
    [{ scheme: 'DPoP', algs: ['ES256', 'PS256'] }],
  ],
  [
    'an unbalanced quote swallows what follows, as the grammar says',
    'Bearer realm="unterminated, DPoP algs="ES256"',
    [{ scheme: 'Bearer' }],
  ],
  [
    'garbage is skipped, DPoP still found',
    '"junk", DPoP error="use_dpop_nonce"',
    [{ scheme: 'DPoP', params: { error: 'use_dpop_nonce' } }],
  ],
  ['empty', '', []],
]

describe('parseWwwAuthenticate against real-world values (C9, RFC 9110 §11.6.1)', () => {
  it.each(TABLE)('%s', (_name, value, expected) => {
    const challenges = parseWwwAuthenticate(value)
    expect(challenges).toHaveLength(expected.length)
    expected.forEach((want, i) => {
      const got = challenges[i]!
      expect(got.scheme).toBe(want.scheme)
      if (want.params !== undefined) {
        for (const [name, v] of Object.entries(want.params)) expect(got.params[name]).toBe(v)
        if (Object.keys(want.params).length === 0) expect(Object.keys(got.params)).toEqual([])
      }
      if (want.token68 !== undefined) expect(got.token68).toBe(want.token68)
      if (want.algs !== undefined) expect(got.algs).toEqual(want.algs)
    })
  })

  it('reads a Headers object and finds DPoP case-insensitively', () => {
    const headers = new Headers()
    headers.append('WWW-Authenticate', 'Bearer realm="x"')
    headers.append('www-authenticate', 'dpop error="use_dpop_nonce"')
    expect(findChallenge(parseWwwAuthenticate(headers), 'DPoP')?.params.error).toBe(
      'use_dpop_nonce',
    )
    expect(findChallenge(parseWwwAuthenticate(null), 'DPoP')).toBeUndefined()
  })

  it('never throws and stays linear on hostile input', () => {
    for (const value of [
      '"',
      '\\',
      '=',
      'a="\\',
      'DPoP a=b=c',
      ',,,',
      'DPoP ' + 'a=b,'.repeat(3000),
      'x'.repeat(20_000),
    ]) {
      expect(() => parseWwwAuthenticate(value)).not.toThrow()
    }
    const started = performance.now()
    parseWwwAuthenticate('DPoP ' + '"a", '.repeat(3000))
    expect(performance.now() - started).toBeLessThan(200)
  })
})
