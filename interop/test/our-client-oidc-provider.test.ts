/**
 * Pair: our client (@keybound/client) -> oidc-provider (DPoP with nonces required, PAR,
 * `dpop_jkt`, refresh tokens), each grant and each client-authentication method; then the tokens
 * oidc-provider issued, used at our resource server (@keybound/server) that reads its JWKS.
 * Real HTTP on 127.0.0.1 both ways.
 */
import { exportKeyPair, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientSecretBasic,
  clientSecretPost,
  createTokenClient,
  discover,
  IssuerMismatch,
  none,
  OAuthResponseError,
  privateKeyJwt,
  StateMismatch,
  type AuthorizationServerMetadata,
  type FetchLike,
} from '@keybound/client'
import { jwtAccessTokens } from '@keybound/server'
import { compatSuite } from './support/compat.js'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'
import {
  CLIENT_SECRET,
  REDIRECT_URI,
  runBrowserLogin,
  startAuthorizationServer,
  type TestAuthorizationServer,
} from '@keybound/test-kit/oidc-provider'

let as: TestAuthorizationServer
let api: KeyboundRs & { resource: string }
let metadata: AuthorizationServerMetadata
let key: DPoPKeyPair
let otherKey: DPoPKeyPair
const compat = compatSuite('our-client-oidc-provider')
const PEER = 'oidc-provider'
let assertionKey: DPoPKeyPair
// Real fetch, counted: every request still goes over the wire.
const requests: string[] = []
const countingFetch: FetchLike = (input, init) => {
  requests.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`)
  return fetch(input, init)
}

beforeAll(async () => {
  ;[key, otherKey, assertionKey] = await Promise.all([
    generateKeyPair('ES256'),
    generateKeyPair('EdDSA'),
    generateKeyPair('ES256', { extractable: true }),
  ])
  const { d: _d, ...assertionJwk } = await exportKeyPair(assertionKey)
  const rs = await startKeyboundRs()
  api = Object.assign(rs, { resource: rs.url })
  as = await startAuthorizationServer({ resource: api.resource, assertionJwk })
  api.configure({
    accessTokens: jwtAccessTokens({
      issuer: as.issuer,
      audience: api.resource,
      jwksUri: `${as.issuer}/jwks`,
    }),
    scopes: ['api:read'],
  })
  metadata = await discover(as.issuer)
})
afterAll(async () => {
  await Promise.all([as?.close(), api?.close()])
})

async function claimsOf(accessToken: string) {
  const { payload, protectedHeader } = await jwtVerify(
    accessToken,
    createRemoteJWKSet(new URL(`${as.issuer}/jwks`)),
    {
      issuer: as.issuer,
      audience: api.resource,
    },
  )
  return { ...payload, typ: protectedHeader.typ } as Record<string, unknown> & {
    cnf?: { jkt?: string }
  }
}

describe('discovery', () => {
  compat.it(
    PEER,
    'finds oidc-provider metadata (RFC 8414 path first, then openid-configuration)',
    () => {
      expect(metadata.issuer).toBe(as.issuer)
      expect(metadata.dpop_signing_alg_values_supported).toContain('ES256')
      expect(metadata.pushed_authorization_request_endpoint).toMatch(/\/request$/)
    },
  )

  compat.it(PEER, 'refuses metadata whose issuer is not the one asked for', async () => {
    await expect(discover(`${as.issuer}/`)).rejects.toBeInstanceOf(IssuerMismatch)
  })
})

describe('client_credentials with every confidential client authentication', () => {
  for (const [method, clientId, auth] of [
    ['client_secret_basic', 'basic-app', () => clientSecretBasic(CLIENT_SECRET)],
    ['client_secret_post', 'post-app', () => clientSecretPost(CLIENT_SECRET)],
    ['private_key_jwt', 'jwt-app', () => privateKeyJwt(assertionKey, { kid: 'client-key-1' })],
  ] as const) {
    compat.it(
      PEER,
      `client_credentials (${method}): AS nonce challenge, one retry, DPoP-bound JWT`,
      async () => {
        requests.length = 0
        const before = as.tokenResponses.length
        const tokens = createTokenClient({
          metadata,
          clientId,
          clientAuth: auth(),
          key,
          fetch: countingFetch,
        })
        const set = await tokens.clientCredentials({ scope: 'api:read', resource: api.resource })
        expect(set.tokenType).toBe('DPoP')
        expect((await claimsOf(set.accessToken)).cnf?.jkt).toBe(key.jkt)
        const responses = as.tokenResponses.slice(before)
        // A fresh client has no nonce yet: the AS asks once, the client retries once.
        expect(responses.map((r) => `${r.status} ${r.error ?? ''}`.trim())).toEqual([
          '400 use_dpop_nonce',
          '200',
        ])
        expect(requests).toEqual(['POST /token', 'POST /token'])
      },
    )
  }

  compat.it(
    PEER,
    'a wrong secret is an OAuthResponseError with the response attached non-enumerably',
    async () => {
      const tokens = createTokenClient({
        metadata,
        clientId: 'basic-app',
        clientAuth: clientSecretBasic('wrong-secret'),
        key,
      })
      const error = (await tokens
        .clientCredentials()
        .catch((caught: unknown) => caught)) as OAuthResponseError
      expect(error).toBeInstanceOf(OAuthResponseError)
      expect(error).toMatchObject({
        code: 'ERR_DPOP_CLIENT_ERROR_RESPONSE',
        error: 'invalid_client',
        status: 401,
      })
      expect(error.response?.status).toBe(401)
      expect(Object.keys(error)).not.toContain('response')
      expect(JSON.stringify(error)).not.toContain('wrong-secret')
    },
  )
})

describe('authorization_code with PKCE, dpop_jkt / PAR, and refresh', () => {
  compat.it(
    PEER,
    'front-channel request with dpop_jkt: the code is bound to the key (RFC 9449 §10)',
    async () => {
      const tokens = createTokenClient({
        metadata,
        clientId: 'public-app',
        clientAuth: none(),
        key,
      })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'openid offline_access api:read',
        par: false,
      })
      const url = new URL(request.url)
      expect(url.searchParams.get('dpop_jkt')).toBe(key.jkt)
      expect(url.searchParams.get('code_challenge_method')).toBe('S256')
      const callback = await runBrowserLogin(request.url)
      expect(new URL(callback).searchParams.get('iss')).toBe(as.issuer)
      const set = await tokens.handleCallback(callback, request)
      expect((await claimsOf(set.accessToken)).cnf?.jkt).toBe(key.jkt)
      expect(set.refreshToken).toBeTypeOf('string')
      // The user's token at our RS: RS nonce round, then alice's identity bound to the key.
      const response = await tokens.createFetch()(`${api.resource}/me`)
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({
        subject: 'alice',
        clientId: 'public-app',
        jkt: key.jkt,
      })
    },
  )

  compat.it(
    PEER,
    'a code bound with dpop_jkt cannot be redeemed with another key (AS13)',
    async () => {
      const tokens = createTokenClient({ metadata, clientId: 'public-app', key })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'api:read',
        par: false,
      })
      const callback = await runBrowserLogin(request.url)
      const thief = createTokenClient({ metadata, clientId: 'public-app', key: otherKey })
      await expect(thief.handleCallback(callback, request)).rejects.toBeInstanceOf(
        OAuthResponseError,
      )
    },
  )

  compat.it(
    PEER,
    'PAR with the DPoP header (nonce retry at the PAR endpoint), then refresh keeps the binding; a second key is refused',
    async () => {
      const before = as.tokenResponses.length
      const tokens = createTokenClient({
        metadata,
        clientId: 'public-app',
        key,
        refreshSkew: 10_000,
      })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'openid offline_access api:read',
      })
      const url = new URL(request.url)
      expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
      expect(url.searchParams.get('dpop_jkt')).toBeNull()
      expect(as.tokenResponses.slice(before).map((r) => `${r.path} ${r.status}`)).toEqual([
        '/request 400',
        '/request 201',
      ])
      const first = await tokens.handleCallback(await runBrowserLogin(request.url), request)

      // refreshSkew is larger than the token lifetime, so getAccessToken() refreshes now.
      const refreshed = await tokens.getAccessToken()
      expect(refreshed).not.toBe(first.accessToken)
      expect((await claimsOf(refreshed)).cnf?.jkt).toBe(key.jkt)
      expect(tokens.tokens?.refreshToken).toBeTypeOf('string')
      // The refreshed token works at our RS with the same key.
      const response = await tokens.createFetch()(`${api.resource}/me`)
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ subject: 'alice', jkt: key.jkt })

      // The public client's refresh token is bound to the key: another key is refused (AS4, C5).
      const thief = createTokenClient({ metadata, clientId: 'public-app', key: otherKey })
      thief.setTokens({ ...tokens.tokens!, expiresAt: 0 })
      const error = (await thief.refresh().catch((caught: unknown) => caught)) as OAuthResponseError
      expect(error).toBeInstanceOf(OAuthResponseError)
      expect(error.error).toBe('invalid_grant')
      expect(error.message).not.toContain(tokens.tokens!.refreshToken!)
    },
  )

  compat.it(PEER, 'checks state and the RFC 9207 iss before redeeming anything', async () => {
    const tokens = createTokenClient({ metadata, clientId: 'public-app', key })
    const request = await tokens.createAuthorizationRequest({
      redirectUri: REDIRECT_URI,
      scope: 'api:read',
    })
    const callback = new URL(await runBrowserLogin(request.url))
    const wrongState = new URL(callback)
    wrongState.searchParams.set('state', 'forged')
    await expect(tokens.handleCallback(wrongState, request)).rejects.toBeInstanceOf(StateMismatch)
    const wrongIssuer = new URL(callback)
    wrongIssuer.searchParams.set('iss', 'https://attacker.example')
    await expect(tokens.handleCallback(wrongIssuer, request)).rejects.toBeInstanceOf(IssuerMismatch)
    const noIssuer = new URL(callback)
    noIssuer.searchParams.delete('iss')
    await expect(tokens.handleCallback(noIssuer, request)).rejects.toMatchObject({
      code: 'ERR_DPOP_CLIENT_ISSUER_MISMATCH',
      reason: 'missing',
    })
    // The untouched callback still works: none of the rejected ones consumed the code.
    expect((await tokens.handleCallback(callback, request)).tokenType).toBe('DPoP')
  })

  compat.it(
    PEER,
    'an authorization error in the callback becomes an OAuthResponseError',
    async () => {
      const tokens = createTokenClient({ metadata, clientId: 'public-app', key })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'api:read',
        par: false,
      })
      const callback = `${REDIRECT_URI}?error=access_denied&error_description=no&state=${request.state}&iss=${encodeURIComponent(as.issuer)}`
      await expect(tokens.handleCallback(callback, request)).rejects.toMatchObject({
        error: 'access_denied',
        errorDescription: 'no',
      })
    },
  )

  compat.it(
    PEER,
    'a code pushed with PAR and a DPoP header cannot be redeemed with another key (AS14)',
    async () => {
      const tokens = createTokenClient({ metadata, clientId: 'public-app', key })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'api:read',
      })
      const thief = createTokenClient({ metadata, clientId: 'public-app', key: otherKey })
      const error = await thief
        .handleCallback(await runBrowserLogin(request.url), request)
        .catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(OAuthResponseError)
    },
  )

  compat.it(
    PEER,
    'key rotation: a confidential client refreshes with a new key and the new token is bound to it (AS6)',
    async () => {
      const auth = () => clientSecretBasic(CLIENT_SECRET)
      const tokens = createTokenClient({ metadata, clientId: 'basic-app', clientAuth: auth(), key })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'openid offline_access api:read',
      })
      await tokens.handleCallback(await runBrowserLogin(request.url), request)
      const rotated = createTokenClient({
        metadata,
        clientId: 'basic-app',
        clientAuth: auth(),
        key: otherKey,
      })
      rotated.setTokens(tokens.tokens)
      const set = await rotated.refresh()
      expect((await claimsOf(set.accessToken)).cnf?.jkt).toBe(otherKey.jkt)
    },
  )

  compat.it(
    PEER,
    'private_key_jwt client with PAR and authorization_code (fresh assertion on the nonce retry)',
    async () => {
      const tokens = createTokenClient({
        metadata,
        clientId: 'jwt-app',
        clientAuth: privateKeyJwt(assertionKey, { kid: 'client-key-1' }),
        key,
      })
      const request = await tokens.createAuthorizationRequest({
        redirectUri: REDIRECT_URI,
        scope: 'api:read',
      })
      const set = await tokens.handleCallback(await runBrowserLogin(request.url), request)
      expect(decodeJwt(set.accessToken).cnf).toEqual({ jkt: key.jkt })
    },
  )
})

describe('the OpenID Connect boundary (C23, D27)', () => {
  it('C23 — an id_token oidc-provider really sends is not exposed on the TokenSet', async () => {
    // Real fetch; the token response is read from a clone, to show the AS did send an id_token.
    const sent: Record<string, unknown>[] = []
    const watchingFetch: FetchLike = async (input, init) => {
      const response = await fetch(input, init)
      if (new URL(String(input)).pathname.endsWith('/token') && response.ok)
        sent.push((await response.clone().json()) as Record<string, unknown>)
      return response
    }
    const tokens = createTokenClient({
      metadata,
      clientId: 'public-app',
      clientAuth: none(),
      key,
      fetch: watchingFetch,
    })
    const request = await tokens.createAuthorizationRequest({
      redirectUri: REDIRECT_URI,
      scope: 'openid offline_access api:read',
      par: false,
    })
    const set = await tokens.handleCallback(await runBrowserLogin(request.url), request)
    expect(sent.at(-1)?.id_token).toBeTypeOf('string')
    expect(Object.keys(set).sort()).toEqual([
      'accessToken',
      'expiresAt',
      'refreshToken',
      'scope',
      'tokenType',
    ])
    expect(JSON.stringify(set)).not.toContain(String(sent.at(-1)?.id_token))
    const refreshed = await tokens.refresh()
    expect(sent.at(-1)?.id_token).toBeTypeOf('string')
    expect('idToken' in refreshed).toBe(false)
  })
})

describe('tokens at a real resource server (@keybound/server)', () => {
  compat.it(
    PEER,
    'the DPoP fetch of the token client calls the RS; another key with the same token is refused',
    async () => {
      const tokens = createTokenClient({
        metadata,
        clientId: 'basic-app',
        clientAuth: clientSecretBasic(CLIENT_SECRET),
        key,
      })
      await tokens.clientCredentials({ scope: 'api:read' })
      const apiFetch = tokens.createFetch()
      const before = api.statuses.length
      const response = await apiFetch(`${api.resource}/items`)
      expect(response.status).toBe(200)
      // The RS requires its own nonce: one 401 use_dpop_nonce, then the retry passes (§9).
      expect(api.statuses.slice(before)).toEqual([401, 200])
      expect(await response.json()).toMatchObject({ jkt: key.jkt })

      const stolen = createTokenClient({
        metadata,
        clientId: 'basic-app',
        clientAuth: clientSecretBasic(CLIENT_SECRET),
        key: otherKey,
      })
      stolen.setTokens(tokens.tokens)
      const refused = await stolen.createFetch()(`${api.resource}/items`)
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toMatch(/invalid_token/)
    },
  )
})
