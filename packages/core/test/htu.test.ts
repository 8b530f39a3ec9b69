import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'

describe.each(backends)('htu helpers ($name backend)', ({ core }) => {
  it.each([
    [
      'https://resource.example.org/protectedresource',
      'https://resource.example.org/protectedresource',
    ],
    [
      'HTTPS://RESOURCE.EXAMPLE.ORG/protectedresource',
      'https://resource.example.org/protectedresource',
    ],
    [
      'https://resource.example.org:443/protectedresource',
      'https://resource.example.org/protectedresource',
    ],
    ['http://resource.example.org:80/x', 'http://resource.example.org/x'],
    ['http://resource.example.org:443/x', 'http://resource.example.org:443/x'],
    ['https://resource.example.org:80/x', 'https://resource.example.org:80/x'],
    ['https://resource.example.org:/x', 'https://resource.example.org/x'],
    ['https://resource.example.org', 'https://resource.example.org/'],
    [
      'https://resource.example.org/%70rotectedresource',
      'https://resource.example.org/protectedresource',
    ],
    ['https://rs.example/%7e%41%2d%5f%2e', 'https://rs.example/~A-_.'],
    ['https://rs.example/a%2fb', 'https://rs.example/a%2Fb'],
    ['https://rs.example/a%3fb%23c', 'https://rs.example/a%3Fb%23c'],
    ['https://rs.example/%e2%82%ac', 'https://rs.example/%E2%82%AC'],
    ['https://rs.example/a/./b/../c/', 'https://rs.example/a/c/'],
    ['https://rs.example/../a', 'https://rs.example/a'],
    ['https://rs.example/x?q=1#frag', 'https://rs.example/x'],
    ['https://rs.example/x#frag?q', 'https://rs.example/x'],
    ['https://[::1]:8443/x', 'https://[::1]:8443/x'],
    ['https://127.0.0.1/x', 'https://127.0.0.1/x'],
    ['https://rs.example/ProtectedResource', 'https://rs.example/ProtectedResource'],
  ])('normalizeHtu(%s) = %s', (input, expected) => {
    expect(core.normalizeHtu(input)).toBe(expected)
    expect(core.normalizeHtu(expected)).toBe(expected) // idempotent
  })

  it.each([
    ['relative', '/protectedresource'],
    ['scheme-relative', '//rs.example/x'],
    ['ftp', 'ftp://rs.example/x'],
    ['wss', 'wss://rs.example/x'],
    ['javascript', 'javascript:alert(1)'],
    ['user info', 'https://user@rs.example/x'],
    ['user and password', 'https://user:pw@rs.example/x'],
    ['empty user info', 'https://@rs.example/x'],
    ['no // after the scheme', 'https:rs.example/x'],
    ['one / after the scheme', 'https:/rs.example/x'],
    ['three slashes', 'https:///rs.example/x'],
    ['empty host', 'https://'],
    ['space', 'https://rs.example/a b'],
    ['tab', 'https://rs.example/a\tb'],
    ['newline', 'https://rs.example/a\nb'],
    ['backslash', 'https://rs.example\\x'],
    ['non-ASCII', 'https://rés.example/x'],
    ['bad port', 'https://rs.example:99999/x'],
    ['too long', `https://rs.example/${'a'.repeat(9000)}`],
    ['empty', ''],
  ])('normalizeHtu refuses %s', (_name, input) => {
    expect(core.normalizeHtu(input)).toBeUndefined()
  })

  it('normalizeHtu takes URL objects', () => {
    expect(core.normalizeHtu(new URL('HTTPS://RS.example:443/a?b'))).toBe('https://rs.example/a')
  })

  it('stripQueryAndFragment cuts at the first ? or #', () => {
    expect(core.stripQueryAndFragment('https://rs.example/x?y=1#f')).toBe('https://rs.example/x')
    expect(core.stripQueryAndFragment('https://rs.example/x#f?y=1')).toBe('https://rs.example/x')
    expect(core.stripQueryAndFragment('https://rs.example/x')).toBe('https://rs.example/x')
    expect(core.stripQueryAndFragment(new URL('https://rs.example/x?'))).toBe(
      'https://rs.example/x',
    )
  })

  it('isLoopbackHost: localhost, *.localhost, 127/8 and [::1] only', () => {
    for (const host of ['localhost', 'api.localhost', '127.0.0.1', '127.1.2.3', '[::1]'])
      expect(core.isLoopbackHost(host)).toBe(true)
    for (const host of [
      'localhost.example.com',
      'example.com',
      '128.0.0.1',
      '10.0.0.1',
      '[::2]',
      'mylocalhost',
      '127.0.0.1.nip.io',
    ]) {
      expect(core.isLoopbackHost(host)).toBe(false)
    }
  })
})
