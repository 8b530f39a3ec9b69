import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, resolveConfig } from '../src/index.js'

function issuesOf(input: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    resolveConfig(input, env)
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  return []
}

describe('configuration', () => {
  it('names the bad field', () => {
    const issues = issuesOf({
      issuer: 'http://as.example.com',
      clients: [
        { client_id: 'ok', redirect_uris: ['https://app.example/cb'] },
        {
          client_id: 'bad',
          redirect_uris: ['http://app.example/cb'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      accessTokens: { lifetime: -1 },
      dpop: { algorithms: ['HS256'] },
      colour: 'blue',
    })
    expect(issues).toEqual(
      expect.arrayContaining([
        'issuer: must be an absolute https URL or loopback http',
        'clients[1].redirect_uris[0]: must be an absolute https URL or loopback http',
        'clients[1].client_secret: is required for client_secret_basic',
        'accessTokens.lifetime: must be a whole number of seconds from 1 to 86400',
        'dpop.algorithms[0]: must be one of ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA, Ed25519',
        'colour: is not a known setting',
      ]),
    )
  })

  it('names every bad field of signing.pkcs11, never echoing a PIN', () => {
    const issues = issuesOf({
      signing: {
        alg: 'ES384',
        pkcs11: {
          uri: 'pkcs11:token=as;id=%01?module-path=lib.so&pin-value=123456',
          pinEnv: '123456',
          poolSize: 0,
          pin: '123456',
        },
        keys: 2,
      },
    })
    expect(issues).toEqual([
      'signing.keys: is not a known setting',
      'signing.pkcs11.pin: is not a known setting',
      'signing.pkcs11.uri: needs object=<label prefix> to name the keys',
      'signing.pkcs11.uri: must not have id=: keys are found by their label',
      'signing.pkcs11.uri: needs module-path=<absolute path of the PKCS#11 module>',
      'signing.pkcs11.uri: must not carry a PIN: use pinEnv',
      'signing.pkcs11.pinEnv: must be the name of an environment variable',
      'signing.alg: must be one of ES256, PS256, RS256, EdDSA with signing.pkcs11',
      'signing.pkcs11.poolSize: must be a whole number from 1 to 64',
    ])
    expect(issuesOf({ signing: { pkcs11: {} } })).toEqual([
      'signing.pkcs11.uri: is required',
      'signing.pkcs11.pinEnv: is required',
    ])
    const good = resolveConfig(
      {
        signing: {
          alg: 'PS256',
          pkcs11: {
            uri: 'pkcs11:token=as;object=as-signing?module-path=/usr/lib/softhsm/libsofthsm2.so',
            pinEnv: 'AS_HSM_PIN',
          },
        },
      },
      {},
    )
    expect(good.signing).toEqual({
      alg: 'PS256',
      pkcs11: {
        uri: 'pkcs11:token=as;object=as-signing?module-path=/usr/lib/softhsm/libsofthsm2.so',
        pinEnv: 'AS_HSM_PIN',
        poolSize: 4,
      },
    })
  })

  it('reads YAML and JSON, with ${VAR} references and environment overrides', () => {
    const yaml = `
issuer: https://as.example.com
clients:
  - client_id: svc
    client_secret: \${SVC_SECRET}
    grant_types: [client_credentials]
`
    const config = parseConfig(yaml, {
      SVC_SECRET: 's'.repeat(20),
      DATABASE_URL: 'postgres://db/x',
      REDIS_URL: 'redis://127.0.0.1:6379',
    })
    expect(config.clients[0]!.client_secret).toBe('s'.repeat(20))
    expect(config.storage.databaseUrl).toBe('postgres://db/x')
    expect(config.replay.redisUrl).toBe('redis://127.0.0.1:6379')
    expect(config.dpop.nonce.required).toBe(true)
    expect(parseConfig('{"issuer":"https://as.example.com/"}', {}).issuer).toBe(
      'https://as.example.com',
    )
    expect(() => parseConfig(yaml, {})).toThrow(
      'clients[0].client_secret: environment variable SVC_SECRET is not set',
    )
    expect(() => parseConfig('issuer: [unclosed', {})).toThrow(ConfigError)
    expect(() => parseConfig('a: 1\na: 2\n', {})).toThrow(ConfigError)
  })

  it('validating a validated config changes nothing', () => {
    const once = resolveConfig(
      {
        clients: [
          { client_id: 'svc', client_secret: 's'.repeat(20), grant_types: ['client_credentials'] },
        ],
      },
      {},
    )
    expect(resolveConfig(once, {})).toEqual(once)
  })

  it('rejects contradictions and unsafe client settings', () => {
    const issues = issuesOf({
      clients: [
        { client_id: 'pub', grant_types: ['client_credentials'] },
        {
          client_id: 'x',
          redirect_uris: ['https://a.example/cb#frag'],
          dpop_bound_access_tokens: true,
          bearer_access_tokens: true,
        },
        { client_id: 'y', redirect_uris: ['https://a.example/cb'] },
        { client_id: 'y', redirect_uris: ['https://a.example/cb'] },
        {
          client_id: 'k',
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials'],
          jwks: { keys: [{ kty: 'EC', d: 'x' }] },
        },
      ],
      users: [{ username: 'a', passwordHash: 'plain' }],
    })
    expect(issues).toEqual(
      expect.arrayContaining([
        'clients[0].grant_types: client_credentials needs an authenticated (confidential) client',
        'clients[1].redirect_uris[0]: must not contain a fragment',
        'clients[1].bearer_access_tokens: contradicts dpop_bound_access_tokens',
        'clients[3].client_id: is a duplicate',
        'clients[4].jwks.keys[0]: must be a public key (private members found)',
        'users[0].passwordHash: must be an scrypt hash (keybound-as hash-password)',
      ]),
    )
  })
})
