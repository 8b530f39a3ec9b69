/**
 * The identity providers users run (Keycloak, Auth0, Okta, Microsoft Entra ID, WSO2 Identity
 * Server, Spring Authorization Server) at our resource server, through its token profiles. None of
 * them can run here, so every row is by fixture: the fixture issuers of
 * test-kit/src/identity-providers.ts serve JWKS and metadata over HTTP on
 * loopback and mint tokens and introspection answers in the shape each provider documents
 * (sources in docs/identity-providers.md). The table marks these rows "by fixture from the
 * provider's documented shape"; they say nothing about a live provider beyond its documents.
 */
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { introspectedAccessTokens, jwtAccessTokens } from '@keybound/server'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import {
  INTROSPECTING_PROVIDERS,
  PROVIDERS,
  startProviderFixture,
  type ProviderFixture,
} from '@keybound/test-kit/identity-providers'
import { startTestIntrospection, type TestIntrospection } from '@keybound/test-kit/introspection'
import { compatSuite } from './support/compat.js'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'

const compat = compatSuite('identity-provider-fixtures')

const NAMES: Record<ProviderFixture['profile'], string> = {
  keycloak: 'Keycloak',
  auth0: 'Auth0',
  okta: 'Okta',
  entra: 'Microsoft Entra ID',
  wso2: 'WSO2 Identity Server',
  spring: 'Spring Authorization Server',
}

const fixtures = {} as Record<ProviderFixture['profile'], ProviderFixture>
let introspection: TestIntrospection
let rs: KeyboundRs
let key: DPoPKeyPair
let otherKey: DPoPKeyPair

beforeAll(async () => {
  for (const fixture of await Promise.all(PROVIDERS.map(startProviderFixture)))
    fixtures[fixture.profile] = fixture
  ;[introspection, rs, key, otherKey] = await Promise.all([
    startTestIntrospection(),
    startKeyboundRs(),
    generateKeyPair('ES256'),
    generateKeyPair('ES256'),
  ])
})

afterAll(async () => {
  await Promise.all([
    ...Object.values(fixtures).map((fixture) => fixture.close()),
    introspection?.close(),
    rs?.close(),
  ])
})

async function call(
  token: string,
  options: { scheme?: string; signer?: DPoPKeyPair } = {},
): Promise<Response> {
  const url = `${rs.url}/items`
  const scheme = options.scheme ?? 'DPoP'
  const headers: Record<string, string> = { authorization: `${scheme} ${token}` }
  if (scheme === 'DPoP')
    headers.dpop = await createProof(options.signer ?? key, {
      htm: 'GET',
      htu: url,
      accessToken: token,
    })
  return fetch(url, { headers })
}

function useJwt(fixture: ProviderFixture, profile: ProviderFixture['profile'] | undefined): void {
  rs.configure({
    accessTokens: jwtAccessTokens({
      issuer: fixture.issuer,
      audience: fixture.audience,
      jwksUri: fixture.jwksUri,
      ...(profile === undefined ? {} : { profile }),
    }),
    nonces: false,
  })
}

async function expectRefused(reply: Response): Promise<void> {
  expect(reply.status).toBe(401)
  expect(reply.headers.get('www-authenticate')).toContain('error="invalid_token"')
}

for (const profile of PROVIDERS) {
  const name = NAMES[profile]
  describe(`${name} by fixture`, () => {
    compat.fixture(
      name,
      `DPoP-bound JWT access token, profile ${profile} -> 200 with its subject, client and scopes`,
      async () => {
        const fixture = fixtures[profile]
        useJwt(fixture, profile)
        const reply = await call(await fixture.mint({ jkt: key.jkt, scope: 'read write' }))
        expect(reply.status).toBe(200)
        const identity = (await reply.json()) as { scope: string[]; clientId?: string }
        expect(identity).toMatchObject({ subject: 'alice', jkt: key.jkt })
        expect(identity.scope).toEqual(expect.arrayContaining(['read', 'write']))
        expect(identity.clientId).toBe(fixture.clientId)
      },
    )

    compat.fixture(
      name,
      `the bound JWT sent as Bearer, profile ${profile} -> 401 invalid_token (downgrade refused)`,
      async () => {
        const fixture = fixtures[profile]
        useJwt(fixture, profile)
        await expectRefused(await call(await fixture.mint({ jkt: key.jkt }), { scheme: 'Bearer' }))
      },
    )

    compat.fixture(
      name,
      `a proof by another key than cnf.jkt, profile ${profile} -> 401 invalid_token`,
      async () => {
        const fixture = fixtures[profile]
        useJwt(fixture, profile)
        await expectRefused(await call(await fixture.mint({ jkt: key.jkt }), { signer: otherKey }))
      },
    )

    compat.fixture(
      name,
      `keys found through the provider's metadata (no jwksUri), profile ${profile} -> 200`,
      async () => {
        const fixture = fixtures[profile]
        rs.configure({
          accessTokens: jwtAccessTokens({
            issuer: fixture.issuer,
            audience: fixture.audience,
            profile,
          }),
          nonces: false,
        })
        expect((await call(await fixture.mint({ jkt: key.jkt }))).status).toBe(200)
      },
    )

    // WSO2 writes RFC 9068 tokens; every other provider's shape needs its profile.
    const strictStatus = profile === 'wso2' ? 200 : 401
    compat.fixture(
      name,
      `the bound JWT with profile unset (strict RFC 9068) -> ${strictStatus}`,
      async () => {
        const fixture = fixtures[profile]
        useJwt(fixture, undefined)
        expect((await call(await fixture.mint({ jkt: key.jkt }))).status).toBe(strictStatus)
      },
    )

    // Auth0 and Entra ID have no introspection endpoint.
    if (!INTROSPECTING_PROVIDERS.includes(profile)) return
    compat.fixture(
      name,
      `RFC 7662 introspection answer (token_type DPoP, cnf.jkt), profile ${profile} -> 200`,
      async () => {
        const fixture = fixtures[profile]
        rs.configure({
          accessTokens: introspectedAccessTokens({
            endpoint: introspection.endpoint,
            clientId: introspection.clientId,
            clientSecret: introspection.clientSecret,
            audience: fixture.audience,
            profile,
          }),
          nonces: false,
        })
        const token = introspection.issue(fixture.introspectionAnswer({ jkt: key.jkt }))
        const reply = await call(token)
        expect(reply.status).toBe(200)
        expect(await reply.json()).toMatchObject({ jkt: key.jkt, clientId: 'client-1' })
        await expectRefused(await call(token, { signer: otherKey }))
      },
    )
  })
}
