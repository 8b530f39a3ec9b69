/**
 * Token profiles, issuer discovery and several issuers, against the fixture issuers of
 * test-kit/src/identity-providers.ts (real JWKS and metadata over HTTP on loopback). Keycloak,
 * Auth0, Okta, Entra ID, WSO2 and Spring Authorization Server cannot run here, so these are
 * tests by fixture: the tokens and introspection answers reproduce the shapes each provider's
 * public docs or source define (sources in docs/identity-providers.md). The whole resource-server
 * conformance suite also runs per profile (conformance.test.ts, RS19).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  AccessTokenInvalid,
  AccessTokenUnavailable,
  createResourceServer,
  introspectedAccessTokens,
  jwtAccessTokens,
  type AccessTokenProfile,
  type AccessTokenValidator,
} from '@keybound/server'
import {
  PROVIDERS,
  startProviderFixture,
  type ProviderFixture,
} from '@keybound/test-kit/identity-providers'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'

const fixtures = {} as Record<ProviderFixture['profile'], ProviderFixture>
let rfc9068: TestIssuer
let key: DPoPKeyPair

beforeAll(async () => {
  const started = await Promise.all(PROVIDERS.map(startProviderFixture))
  for (const fixture of started) fixtures[fixture.profile] = fixture
  ;[rfc9068, key] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    generateKeyPair('ES256'),
  ])
})

afterAll(async () => {
  await Promise.all([...Object.values(fixtures).map((f) => f.close()), rfc9068?.close()])
})

function validatorFor(
  fixture: ProviderFixture,
  extra: { profile?: AccessTokenProfile | string | undefined; audience?: string } = {},
): AccessTokenValidator {
  return jwtAccessTokens({
    issuer: fixture.issuer,
    audience: extra.audience ?? fixture.audience,
    jwksUri: fixture.jwksUri,
    ...('profile' in extra
      ? extra.profile === undefined
        ? {}
        : { profile: extra.profile as AccessTokenProfile }
      : { profile: fixture.profile }),
  })
}

async function refusal(promise: Promise<unknown>): Promise<AccessTokenInvalid> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(AccessTokenInvalid)
  return error as AccessTokenInvalid
}

describe('token profiles (RS20–RS26)', () => {
  it('RS20 — with profile unset, every provider-shaped token that is not RFC 9068 is refused: the default stays strict', async () => {
    // WSO2 issues RFC 9068 tokens (typ at+jwt, client_id, jti): they pass either way.
    for (const profile of PROVIDERS.filter((name) => name !== 'wso2')) {
      const fixture = fixtures[profile]
      const token = await fixture.mint({ jkt: key.jkt })
      const error = await refusal(validatorFor(fixture, { profile: undefined }).validate(token))
      // Each fails on an RFC 9068 rule: header typ, or a required claim (client_id, jti).
      expect(error.claim, profile).toMatch(/^(typ|client_id|jti)$/)
      // The same token passes with the provider's profile.
      expect((await validatorFor(fixture).validate(token)).jkt).toBe(key.jkt)
    }
    const keycloakLike = await fixtures.keycloak.mint({ jkt: key.jkt })
    const strict = jwtAccessTokens({
      issuer: fixtures.keycloak.issuer,
      audience: fixtures.keycloak.audience,
      jwksUri: fixtures.keycloak.jwksUri,
      profile: 'rfc9068',
    })
    expect((await refusal(strict.validate(keycloakLike))).claim).toBe('typ')
  })

  it('RS21 — the keycloak profile takes only access tokens: ID, refresh and logout tokens, a DPoP-typed token without cnf.jkt and a Bearer-typed token with one are refused', async () => {
    const keycloak = validatorFor(fixtures.keycloak)
    for (const typ of ['ID', 'Refresh', 'Logout', undefined]) {
      const token = await fixtures.keycloak.mint({ claims: { typ } })
      expect((await refusal(keycloak.validate(token))).claim).toBe('typ')
    }
    const dpopWithoutKey = await fixtures.keycloak.mint({ claims: { typ: 'DPoP' } })
    expect((await refusal(keycloak.validate(dpopWithoutKey))).claim).toBe('cnf')
    const bearerWithKey = await fixtures.keycloak.mint({ jkt: key.jkt, claims: { typ: 'Bearer' } })
    expect((await refusal(keycloak.validate(bearerWithKey))).claim).toBe('cnf')
  })

  it("RS22 — each profile reads its provider's scope and client-id claims", async () => {
    const read = async (profile: ProviderFixture['profile'], claims?: Record<string, unknown>) =>
      validatorFor(fixtures[profile]).validate(
        await fixtures[profile].mint({ scope: 'read write', ...(claims ? { claims } : {}) }),
      )
    expect(await read('keycloak')).toMatchObject({ clientId: 'client-1' })
    expect((await read('keycloak')).scope).toEqual(['profile', 'email', 'read', 'write'])
    expect(await read('auth0')).toMatchObject({ clientId: 'client-1' })
    expect(await read('okta')).toMatchObject({ clientId: 'client-1', scope: ['read', 'write'] })
    expect(await read('entra', { roles: ['Orders.Admin'] })).toMatchObject({
      clientId: 'client-1',
      scope: ['read', 'write', 'Orders.Admin'],
    })
    // Entra v1.0 tokens name the client in `appid`.
    expect(
      await read('entra', { azp: undefined, appid: 'legacy-client', ver: '1.0' }),
    ).toMatchObject({ clientId: 'legacy-client' })
    expect(await read('wso2')).toMatchObject({ clientId: 'client-1', scope: ['read', 'write'] })
    const spring = await read('spring')
    expect(spring.scope).toEqual(['read', 'write'])
    expect(spring.clientId).toBeUndefined()
  })

  it('RS23 — the entra profile matches api://<application ID> with the bare application ID, and nothing else', async () => {
    const entra = fixtures.entra
    const accepted = await entra.mint({ jkt: key.jkt })
    expect((await validatorFor(entra).validate(accepted)).jkt).toBe(key.jkt)
    const appId = entra.audience.slice('api://'.length)
    // Configured the other way round (the bare ID), a v1.0 token naming the App ID URI passes.
    const v1 = await entra.mint({ aud: `api://${appId}`, claims: { ver: '1.0' } })
    expect(await validatorFor(entra, { audience: appId }).validate(v1)).toBeDefined()
    const other = await entra.mint({ aud: '00000003-0000-0000-c000-000000000000' })
    expect((await refusal(validatorFor(entra).validate(other))).claim).toBe('aud')
  })

  it('RS24 — no profile accepts a header typ its provider does not send (a DPoP proof or an ID token passed off as an access token)', async () => {
    for (const profile of PROVIDERS) {
      const fixture = fixtures[profile]
      for (const typ of ['dpop+jwt', 'id+jwt']) {
        const token = await fixture.mint({ jkt: key.jkt, typ })
        expect((await refusal(validatorFor(fixture).validate(token))).claim, profile).toBe('typ')
      }
    }
    // Keycloak always sends typ JWT: a token without typ is not Keycloak's.
    const untyped = await fixtures.keycloak.mint({ jkt: key.jkt, typ: null })
    expect((await refusal(validatorFor(fixtures.keycloak).validate(untyped))).claim).toBe('typ')
  })

  it('RS25 — a custom profile (functions) is used as given; a malformed one is refused at build time naming every bad field', async () => {
    const custom: AccessTokenProfile = {
      name: 'custom',
      headerTypes: ['JWT'],
      requiredClaims: ['iss', 'exp', 'aud'],
      introspection: true,
      scopesOf: (claims) => (Array.isArray(claims.perms) ? (claims.perms as string[]) : []),
      clientIdOf: (claims) => (typeof claims.app === 'string' ? claims.app : undefined),
      audienceForms: (audience) => audience,
    }
    const token = await fixtures.keycloak.mint({ claims: { perms: ['orders:read'], app: 'pos' } })
    const info = await validatorFor(fixtures.keycloak, { profile: custom }).validate(token)
    expect(info).toMatchObject({ scope: ['orders:read'], clientId: 'pos' })
    // A scope reader that answers nonsense refuses the token instead of granting anything.
    const broken = { ...custom, scopesOf: () => 'orders:read' as unknown as string[] }
    await refusal(validatorFor(fixtures.keycloak, { profile: broken }).validate(token))
    expect(() =>
      jwtAccessTokens({
        issuer: fixtures.keycloak.issuer,
        audience: fixtures.keycloak.audience,
        jwksUri: fixtures.keycloak.jwksUri,
        profile: { name: '', headerTypes: [], scopesOf: 'scope' } as unknown as AccessTokenProfile,
      }),
    ).toThrow(
      'profile.name: must be a non-empty string; profile.headerTypes: must list strings or null, at least one; profile.requiredClaims: must be an array of claim names; profile.introspection: must be true or false; profile.scopesOf: must be a function; profile.clientIdOf: must be a function; profile.audienceForms: must be a function',
    )
    expect(() =>
      jwtAccessTokens({
        issuer: fixtures.keycloak.issuer,
        audience: fixtures.keycloak.audience,
        profile: 'keycloak-legacy' as 'keycloak',
      }),
    ).toThrow(/profile: unknown profile "keycloak-legacy"/)
  })

  it('RS26 — introspectedAccessTokens refuses the auth0 and entra profiles at build time: neither provider has an introspection endpoint', () => {
    for (const profile of ['auth0', 'entra'] as const) {
      expect(() =>
        introspectedAccessTokens({
          endpoint: 'https://as.example.test/introspect',
          clientId: 'rs',
          clientSecret: 'rs-secret',
          audience: BASE,
          profile,
        }),
      ).toThrow(`profile: ${profile} has no RFC 7662 introspection endpoint`)
    }
  })
})

describe('issuer discovery (RS27, RS28)', () => {
  it('RS27 — without jwksUri, the keys are found through OpenID discovery or RFC 8414 metadata, fetched once for many tokens', async () => {
    for (const style of ['openid', 'rfc8414'] as const) {
      const fixture = fixtures.okta
      fixture.serveMetadataAt(style)
      try {
        const before = fixture.metadataFetches
        const accessTokens = jwtAccessTokens({
          issuer: fixture.issuer,
          audience: fixture.audience,
          profile: 'okta',
        })
        for (let i = 0; i < 5; i++) {
          const info = await accessTokens.validate(await fixture.mint({ jkt: key.jkt }))
          expect(info.jkt).toBe(key.jkt)
        }
        expect(fixture.metadataFetches - before, style).toBe(1)
      } finally {
        fixture.serveMetadataAt('openid')
      }
    }
    // An issuer that cannot be discovered safely is a configuration error, not a 503 per request.
    for (const issuer of ['http://sso.example.test/realms/shop', 'sso.example.test']) {
      expect(() => jwtAccessTokens({ issuer, audience: 'orders-api' })).toThrow(
        'issuer: must be an https URL (http only on loopback) to discover its keys; or give jwksUri or jwks',
      )
    }
  })

  it('RS28 — metadata naming another issuer, or no metadata, is refused: 503 temporarily_unavailable, never acceptance', async () => {
    const fixture = fixtures.keycloak
    const resourceServer = (accessTokens: AccessTokenValidator) =>
      createResourceServer({ publicBaseUrl: BASE, accessTokens })
    const request = async () => {
      const token = await fixture.mint({ jkt: key.jkt })
      const proof = await createProof(key, {
        htm: 'GET',
        htu: `${BASE}/orders`,
        accessToken: token,
      })
      return {
        token,
        request: {
          method: 'GET',
          url: '/orders',
          headers: { authorization: `DPoP ${token}`, dpop: proof },
        },
      }
    }
    const discovering = () =>
      jwtAccessTokens({ issuer: fixture.issuer, audience: fixture.audience, profile: 'keycloak' })
    fixture.lieAboutIssuer('https://attacker.example.test/realms/keybound')
    try {
      const lied = discovering()
      const { token, request: sent } = await request()
      const error = await lied.validate(token).then(
        () => undefined,
        (caught: unknown) => caught,
      )
      expect(error).toBeInstanceOf(AccessTokenUnavailable)
      expect((error as AccessTokenUnavailable).reason).toBe('metadata issuer mismatch')
      const verdict = await resourceServer(discovering()).verifyRequest(sent)
      expect(verdict).toMatchObject({ ok: false, status: 503 })
    } finally {
      fixture.lieAboutIssuer(undefined)
    }
    fixture.serveMetadataAt('none')
    try {
      const { request: sent } = await request()
      const verdict = await resourceServer(discovering()).verifyRequest(sent)
      expect(verdict).toMatchObject({ ok: false, status: 503 })
    } finally {
      fixture.serveMetadataAt('openid')
    }
    // With honest metadata the same configuration accepts the request.
    const { request: sent } = await request()
    expect((await resourceServer(discovering()).verifyRequest(sent)).ok).toBe(true)
  })
})

describe('several issuers (RS29)', () => {
  const several = () =>
    jwtAccessTokens({
      issuers: [
        {
          issuer: fixtures.keycloak.issuer,
          audience: fixtures.keycloak.audience,
          jwksUri: fixtures.keycloak.jwksUri,
          profile: 'keycloak',
        },
        {
          issuer: fixtures.entra.issuer,
          audience: fixtures.entra.audience,
          profile: 'entra',
        },
        { issuer: rfc9068.issuer, audience: BASE, jwksUri: rfc9068.jwksUri },
      ],
    })

  it('RS29 — each token is read with the profile of its own issuer', async () => {
    const accessTokens = several()
    const keycloak = await accessTokens.validate(await fixtures.keycloak.mint({ jkt: key.jkt }))
    expect(keycloak).toMatchObject({ clientId: 'client-1', jkt: key.jkt })
    expect(keycloak.claims.iss).toBe(fixtures.keycloak.issuer)
    const entra = await accessTokens.validate(
      await fixtures.entra.mint({ jkt: key.jkt, scope: 'Orders.Read' }),
    )
    expect(entra).toMatchObject({ scope: ['Orders.Read'], jkt: key.jkt })
    const strict = await accessTokens.validate(await rfc9068.mint({ jkt: key.jkt }))
    expect(strict.claims.iss).toBe(rfc9068.issuer)
    // The strict issuer stays strict: a typ JWT token of its own is refused.
    expect((await refusal(accessTokens.validate(await rfc9068.mint({ typ: 'JWT' })))).claim).toBe(
      'typ',
    )
  })

  it('RS29 — an unknown iss, a token naming one issuer but signed by another, and a non-JWT are refused', async () => {
    const accessTokens = several()
    const unknown = await fixtures.okta.mint({ jkt: key.jkt })
    const unknownError = await refusal(accessTokens.validate(unknown))
    expect(unknownError).toMatchObject({ claim: 'iss', reason: 'unknown issuer' })
    // Signed with Okta's key, claiming to be Keycloak: chosen by iss, then refused by signature.
    const forged = await fixtures.okta.mint({
      jkt: key.jkt,
      typ: 'JWT',
      claims: {
        iss: fixtures.keycloak.issuer,
        aud: fixtures.keycloak.audience,
        typ: 'DPoP',
        azp: 'client-1',
      },
    })
    await refusal(accessTokens.validate(forged))
    await refusal(accessTokens.validate('not-a-jwt'))
  })

  it('RS29 — configuration errors name each entry by its path', () => {
    expect(() => jwtAccessTokens({ issuers: [] })).toThrow('issuers must be a non-empty array')
    expect(() =>
      jwtAccessTokens({
        issuers: [
          {
            issuer: 'https://a.example.test',
            audience: 'api',
            jwksUri: 'https://a.example.test/k',
          },
          { issuer: '', audience: [], profile: 'okta' },
          { issuer: 'https://a.example.test', audience: 'api', profile: 'nope' as 'okta' },
        ],
      }),
    ).toThrow(
      'issuers[1].issuer: issuer is required; issuers[1].audience: audience is required (this server\'s identifier, or a list of them); issuers[2].profile: unknown profile "nope"',
    )
  })
})
