/**
 * The one value checker and the URL rules of both config loaders: each problem has one wording,
 * every bad value is recorded with its path and the walk goes on, and an environment variable's
 * content never appears in a message. Pure functions over plain values; nothing to stand up.
 */
import { describe, expect, it } from 'vitest'
import {
  Checker,
  checkUrl,
  describeUnparsable,
  URL_RULES,
  writeShorthandReferences,
} from '@keybound/config-kit'

describe('Checker', () => {
  it('D52 — words each kind of bad value once and names them all, with their paths', () => {
    const checker = new Checker()
    expect(checker.object(undefined, 'tokens')).toBeUndefined()
    expect(checker.object([], 'limits')).toBeUndefined()
    expect(checker.optionalObject('x', 'log')).toEqual({})
    expect(checker.string('  ', 'log.level', 'info')).toBeUndefined()
    expect(checker.required(undefined, 'upstream.url')).toBeUndefined()
    expect(checker.boolean('yes', 'trustProxy', false)).toBe(false)
    expect(checker.integer(70_000, 'listen.port', 8080, 0, 65_535)).toBe(8080)
    expect(checker.integer(1.5, 'limits.jsonDepth', 16, 2, 256)).toBe(16)
    expect(checker.seconds(0, 'dpop.maxAge', 60, 3600)).toBe(60)
    expect(checker.oneOf('xml', 'accessTokens.format', ['jwt', 'opaque'], 'jwt')).toBe('jwt')
    expect(checker.listOf(['ES256', 'none'], 'dpop.algorithms', ['ES256'], [])).toEqual(['ES256'])
    expect(checker.listOf([], 'dpop.algorithms', ['ES256'], ['ES256'])).toEqual(['ES256'])
    expect(checker.url('ftp://x', 'upstream.url', URL_RULES.upstream)).toBeUndefined()
    expect(checker.exactlyOne({ path: '/a', prefix: '/b' }, 'routes[1]', ['path', 'prefix'])).toBe(
      false,
    )
    expect(checker.issues).toEqual([
      'tokens: is required',
      'limits: must be an object',
      'log: must be an object',
      'log.level: must be a non-empty string',
      'upstream.url: is required',
      'trustProxy: must be true or false',
      'listen.port: must be a whole number from 0 to 65535',
      'limits.jsonDepth: must be a whole number from 2 to 256',
      'dpop.maxAge: must be a whole number of seconds from 1 to 3600',
      'accessTokens.format: must be one of jwt, opaque',
      'dpop.algorithms[1]: must be one of ES256',
      'dpop.algorithms: must be a non-empty array',
      'upstream.url: must be an absolute http or https URL',
      'routes[1]: needs exactly one of path, prefix',
    ])
  })

  it('returns good values as given and the fallback when a value is left out', () => {
    const checker = new Checker()
    expect(checker.optionalObject(undefined, 'log')).toEqual({})
    expect(checker.string(undefined, 'log.level', 'info')).toBe('info')
    expect(checker.required('x', 'a')).toBe('x')
    expect(checker.integer(0, 'listen.port', 8080, 0, 65_535)).toBe(0)
    expect(checker.seconds(undefined, 'dpop.maxAge', 60)).toBe(60)
    expect(checker.strings(undefined, 'trustProxy')).toBeUndefined()
    expect(checker.strings([], 'trustProxy')).toEqual([])
    expect(checker.exactlyOne({ path: '/a' }, 'routes[0]', ['path', 'prefix'])).toBe(true)
    expect(checker.issues).toEqual([])
  })

  it('names each bad item of a list of strings by its index and keeps the good ones', () => {
    const checker = new Checker()
    const scopes = checker.strings(['read', 'a"b', 7, ''], 'routes[0].scopes', {
      nonEmpty: true,
      accepts: /^[\x21\x23-\x5B\x5D-\x7E]+$/,
      problem: 'must be a scope token (RFC 6749 §3.3)',
    })
    const proxies = checker.strings(['10.0.0.1', 'proxy'], 'trustProxy', {
      accepts: (item) => item.includes('.') && !/[a-z]/.test(item),
      problem: 'must be an IP address',
    })
    expect(checker.strings([], 'verify.trustedProxies', { nonEmpty: true })).toBeUndefined()
    expect(checker.strings('read', 'registration.allowedScopes')).toBeUndefined()
    expect(scopes).toEqual(['read'])
    expect(proxies).toEqual(['10.0.0.1'])
    expect(checker.issues).toEqual([
      'routes[0].scopes[1]: must be a scope token (RFC 6749 §3.3)',
      'routes[0].scopes[2]: must be a scope token (RFC 6749 §3.3)',
      'routes[0].scopes[3]: must be a scope token (RFC 6749 §3.3)',
      'trustProxy[1]: must be an IP address',
      'verify.trustedProxies: must be a non-empty array',
      'registration.allowedScopes: must be an array',
    ])
  })

  it('refuses an absent list that is required, naming it like any required setting', () => {
    const checker = new Checker()
    const rule = { required: true, nonEmpty: true }
    expect(checker.strings(undefined, 'delegation[0].audiences', rule)).toBeUndefined()
    expect(checker.strings(['a'], 'delegation[0].subjectClients', rule)).toEqual(['a'])
    expect(checker.issues).toEqual(['delegation[0].audiences: is required'])
  })

  it('checks each entry of a list at its own index and keeps the good ones', () => {
    const checker = new Checker()
    const port = (item: unknown, path: string) => {
      const entry = checker.object(item, path)
      return entry === undefined ? undefined : checker.integer(entry.port, `${path}.port`, 0, 1, 9)
    }
    expect(checker.list(undefined, 'listeners', port)).toEqual([])
    expect(checker.list({ port: 1 }, 'listeners', port)).toEqual([])
    expect(checker.list([{ port: 1 }, 'x', { port: 2 }], 'listeners', port)).toEqual([1, 2])
    expect(checker.issues).toEqual([
      'listeners: must be an array',
      'listeners[1]: must be an object',
    ])
  })

  it('reads a variable a setting names, naming it and never echoing its content', () => {
    const checker = new Checker()
    const env = { SHORT: 'hunter2-secret', LONG: 'x'.repeat(32), EMPTY: '' }
    expect(checker.variable(env, 'LONG', 'nonces.secretEnv', 32)).toBe('x'.repeat(32))
    expect(checker.variable(env, 'SHORT', 'nonces.secretEnv', 32)).toBeUndefined()
    expect(checker.variable(env, 'EMPTY', 'replay.redis.urlEnv')).toBeUndefined()
    expect(checker.variable(env, 'MISSING', 'replay.redis.urlEnv')).toBeUndefined()
    expect(checker.variable(env, '1234', 'tokens.introspection.clientSecretEnv')).toBeUndefined()
    expect(checker.variableName('my pin', 'signing.pkcs11.pinEnv')).toBeUndefined()
    expect(checker.variableName('HSM_PIN', 'signing.pkcs11.pinEnv')).toBe('HSM_PIN')
    expect(checker.issues).toEqual([
      'nonces.secretEnv: environment variable SHORT must hold at least 32 bytes',
      'replay.redis.urlEnv: environment variable EMPTY is not set',
      'replay.redis.urlEnv: environment variable MISSING is not set',
      'tokens.introspection.clientSecretEnv: must be the name of an environment variable',
      'signing.pkcs11.pinEnv: must be the name of an environment variable',
    ])
    expect(checker.issues.join('\n')).not.toContain('hunter2')
  })
})

describe('checkUrl', () => {
  it('D52 — allows plain http only on a loopback host for issuers and redirect URIs', () => {
    for (const url of ['https://as.example', 'http://127.0.0.1:4000', 'http://[::1]/cb'])
      expect(checkUrl(url, URL_RULES.redirect)).toBeUndefined()
    for (const url of ['http://as.example', 'not a url', 'ftp://127.0.0.1'])
      expect(checkUrl(url, URL_RULES.redirect)).toBe(
        'must be an absolute https URL or loopback http',
      )
  })

  it('refuses the parts a rule refuses, each in its own words', () => {
    expect(checkUrl('https://as.example/?x=1', URL_RULES.issuer)).toBe('must not contain a query')
    expect(checkUrl('https://as.example/#', URL_RULES.issuer)).toBe('must not contain a fragment')
    expect(checkUrl('https://u:p@as.example/', URL_RULES.issuer)).toBe('must not contain user info')
    expect(checkUrl('https://app.example/cb?x=1', URL_RULES.redirect)).toBeUndefined()
    expect(checkUrl('http://up:3000/base?x', URL_RULES.upstream)).toBe('must not contain a query')
    expect(checkUrl('http://up:3000/base', URL_RULES.upstream)).toBeUndefined()
    expect(checkUrl('http://cache:6379', URL_RULES.redis)).toBe(
      'must be an absolute redis or rediss URL',
    )
    expect(checkUrl('rediss://cache:6380', URL_RULES.redis)).toBeUndefined()
    expect(checkUrl('mysql://db/x', URL_RULES.postgres)).toBe(
      'must be an absolute postgres or postgresql URL',
    )
    expect(checkUrl('urn:example:api', URL_RULES.identifier)).toBe(
      'must be an absolute http or https URL',
    )
  })
})

describe('writeShorthandReferences', () => {
  it('D47 — writes a reference where a set shorthand points, over the file, and copies', () => {
    const file = { storage: { databaseUrl: 'postgres://file/x', dataDir: './d' }, replay: 'x' }
    const written = writeShorthandReferences(
      file,
      { DATABASE_URL: 'postgres://env/x', REDIS_URL: 'redis://r', KEYBOUND_ISSUER: '' },
      {
        DATABASE_URL: 'storage.databaseUrl',
        REDIS_URL: 'replay.redisUrl',
        KEYBOUND_ISSUER: 'issuer',
      },
    )
    expect(written).toEqual({
      storage: { databaseUrl: '${DATABASE_URL}', dataDir: './d' },
      replay: { redisUrl: '${REDIS_URL}' },
    })
    expect(file.storage.databaseUrl).toBe('postgres://file/x')
  })
})

describe('describeUnparsable', () => {
  it('keeps the first line of the parser message only', () => {
    expect(
      describeUnparsable(new Error('Nested mappings are not allowed\n  a: b: c\n     ^')),
    ).toBe('(file): not valid JSON or YAML: Nested mappings are not allowed')
  })
})
