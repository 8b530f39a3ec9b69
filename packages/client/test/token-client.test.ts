/**
 * Token-client behaviour that oidc-provider does not exercise on its own: token_type handling
 * (C3, C4), expiry and refresh timing, discovery fallbacks, error shapes. The server is a small
 * real HTTP server on loopback that verifies every proof and answers what each test needs.
 */
import { generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createTokenClient,
  discover,
  DiscoveryFailed,
  InsecureRequest,
  InvalidResponse,
  LoginRequired,
  TokenTypeMismatch,
  type AuthorizationServerMetadata,
} from '../src/index.js'
import {
  startProofCheckingServer,
  type ProofCheckingServer,
} from './support/proof-checking-server.js'

let server: ProofCheckingServer
let key: DPoPKeyPair
let metadata: AuthorizationServerMetadata

beforeAll(async () => {
  ;[server, key] = await Promise.all([startProofCheckingServer(), generateKeyPair('ES256')])
  metadata = {
    issuer: server.url,
    token_endpoint: `${server.url}/token`,
    authorization_endpoint: `${server.url}/authorize`,
  }
})
afterAll(() => server.close())
beforeEach(() => {
  server.seen = []
  server.routes.clear()
  server.nonceMode = 'off'
})

function answer(body: Record<string, unknown>, status = 200) {
  server.routes.set('/token', () => Response.json(body, { status }))
}

describe('token responses', () => {
  it('accepts token_type in any case (C3) and sends no ath at the token endpoint', async () => {
    answer({ access_token: 'at-1', token_type: 'dpop', expires_in: 60 })
    const tokens = createTokenClient({ metadata, clientId: 'c', key })
    const set = await tokens.clientCredentials({
      scope: 'a b',
      resource: ['https://r1', 'https://r2'],
    })
    expect(set).toMatchObject({ accessToken: 'at-1', tokenType: 'DPoP' })
    const seen = server.seen[0]!
    expect(new URLSearchParams(seen.body).getAll('resource')).toEqual(['https://r1', 'https://r2'])
    expect(seen.proof?.claims).toMatchObject({ htm: 'POST', htu: `${server.url}/token` })
    expect(seen.proof?.claims.ath).toBeUndefined()
  })

  it('discards a Bearer token response (C4)', async () => {
    answer({ access_token: 'bearer-token-value', token_type: 'Bearer' })
    const tokens = createTokenClient({ metadata, clientId: 'c', key })
    const error = (await tokens
      .clientCredentials()
      .catch((caught: unknown) => caught)) as TokenTypeMismatch
    expect(error).toBeInstanceOf(TokenTypeMismatch)
    expect(error.message).not.toContain('bearer-token-value')
    expect(tokens.tokens).toBeUndefined()
  })

  it('rejects a response without access_token or with a non-JSON body', async () => {
    answer({ token_type: 'DPoP' })
    const tokens = createTokenClient({ metadata, clientId: 'c', key })
    await expect(tokens.clientCredentials()).rejects.toBeInstanceOf(InvalidResponse)
    server.routes.set('/token', () => new Response('<html>oops</html>', { status: 502 }))
    await expect(tokens.clientCredentials()).rejects.toMatchObject({
      code: 'ERR_DPOP_CLIENT_INVALID_RESPONSE',
    })
  })

  it('the AS nonce retry works for token requests (400 use_dpop_nonce, one retry, fresh proof)', async () => {
    server.nonceMode = 'as'
    answer({ access_token: 'at', token_type: 'DPoP' })
    await createTokenClient({ metadata, clientId: 'c', key }).clientCredentials()
    expect(server.seen.map((seen) => seen.error ?? 'ok')).toEqual(['ERR_DPOP_NONCE_REQUIRED', 'ok'])
    expect(server.seen[1]!.proof?.claims.nonce).toBe(server.nonce)
  })
})

describe('construction', () => {
  it('refuses a key whose alg the AS does not list in dpop_signing_alg_values_supported (C14)', () => {
    const strict = { ...metadata, dpop_signing_alg_values_supported: ['EdDSA'] }
    expect(() => createTokenClient({ metadata: strict, clientId: 'c', key })).toThrow(/ES256/)
    expect(() =>
      createTokenClient({
        metadata: { ...strict, dpop_signing_alg_values_supported: ['ES256'] },
        clientId: 'c',
        key,
      }),
    ).not.toThrow()
  })
})

describe('getAccessToken: refresh before expiry with the same key', () => {
  it('returns the token while fresh, refreshes once within refreshSkew, shares one refresh', async () => {
    let clock = 1_000_000
    let issued = 0
    server.routes.set('/token', () => {
      issued++
      return Response.json({
        access_token: `at-${issued}`,
        token_type: 'DPoP',
        expires_in: 100,
        ...(issued === 1 ? { refresh_token: 'rt-1' } : {}),
      })
    })
    const tokens = createTokenClient({
      metadata,
      clientId: 'c',
      key,
      refreshSkew: 30,
      now: () => clock,
    })
    await tokens.clientCredentials()
    expect(await tokens.getAccessToken()).toBe('at-1')
    clock += 71_000 // 29 s left: inside the skew
    const [a, b] = await Promise.all([tokens.getAccessToken(), tokens.getAccessToken()])
    expect([a, b]).toEqual(['at-2', 'at-2'])
    expect(issued).toBe(2)
    const refreshBody = new URLSearchParams(server.seen.at(-1)!.body)
    expect(refreshBody.get('grant_type')).toBe('refresh_token')
    expect(refreshBody.get('refresh_token')).toBe('rt-1')
    expect(server.seen.at(-1)!.proof?.jkt).toBe(key.jkt)
    // The response had no refresh_token: the old one is kept (RFC 6749 §6).
    expect(tokens.tokens?.refreshToken).toBe('rt-1')
  })

  it('refresh() and getAccessToken share one token request while a refresh is in flight', async () => {
    let clock = 1_000_000
    let issued = 0
    const usedRefreshTokens: string[] = []
    server.routes.set('/token', (_request, seen) => {
      const form = new URLSearchParams(seen.body)
      if (form.get('grant_type') === 'refresh_token')
        usedRefreshTokens.push(form.get('refresh_token')!)
      issued++
      // Every answer rotates the refresh token, as a server with rotation does.
      return Response.json({
        access_token: `at-${issued}`,
        token_type: 'DPoP',
        expires_in: 100,
        refresh_token: `rt-${issued}`,
      })
    })
    const tokens = createTokenClient({ metadata, clientId: 'c', key, now: () => clock })
    await tokens.clientCredentials()
    clock += 90_000 // inside the default 30 s skew
    const results = await Promise.all([
      tokens.refresh(),
      tokens.getAccessToken(),
      tokens.refresh(),
      tokens.getAccessToken(),
    ])
    expect(results.map((r) => (typeof r === 'string' ? r : r.accessToken))).toEqual([
      'at-2',
      'at-2',
      'at-2',
      'at-2',
    ])
    expect(usedRefreshTokens).toEqual(['rt-1'])
    // A refresh with its own parameters waits for the running one and uses the rotated token.
    const [plain, scoped] = await Promise.all([tokens.refresh(), tokens.refresh({ scope: 'a' })])
    expect([plain.accessToken, scoped.accessToken]).toEqual(['at-3', 'at-4'])
    expect(usedRefreshTokens).toEqual(['rt-1', 'rt-2', 'rt-3'])
    expect(new URLSearchParams(server.seen.at(-1)!.body).get('scope')).toBe('a')
  })

  it('LoginRequired when there is nothing to refresh with', async () => {
    const tokens = createTokenClient({ metadata, clientId: 'c', key, now: () => 0 })
    await expect(tokens.getAccessToken()).rejects.toBeInstanceOf(LoginRequired)
    tokens.setTokens({ accessToken: 'x', tokenType: 'DPoP', expiresAt: -1 })
    await expect(tokens.getAccessToken()).rejects.toMatchObject({
      code: 'ERR_DPOP_CLIENT_LOGIN_REQUIRED',
    })
  })
})

describe('discover', () => {
  it('inserts the well-known segment before the issuer path (RFC 8414 §3.1)', async () => {
    const issuer = `${server.url}/tenant/a`
    server.routes.set('/.well-known/oauth-authorization-server/tenant/a', () =>
      Response.json({ issuer }),
    )
    expect((await discover(issuer)).issuer).toBe(issuer)
  })

  it('falls back to openid-configuration, and fails clearly when neither exists', async () => {
    const issuer = `${server.url}/oidc`
    server.routes.set('/oidc/.well-known/openid-configuration', () => Response.json({ issuer }))
    server.routes.set(
      '/.well-known/oauth-authorization-server/oidc',
      () => new Response('no', { status: 404 }),
    )
    expect((await discover(issuer)).issuer).toBe(issuer)
    server.routes.set(
      '/oidc/.well-known/openid-configuration',
      () => new Response('no', { status: 404 }),
    )
    await expect(discover(issuer)).rejects.toBeInstanceOf(DiscoveryFailed)
  })

  it('refuses a non-loopback http issuer (C15)', async () => {
    await expect(discover('http://as.example.com')).rejects.toBeInstanceOf(InsecureRequest)
  })
})

describe('exchangeToken (RFC 8693)', () => {
  const TYPE = 'urn:ietf:params:oauth:token-type:access_token'

  it('sends the RFC 8693 parameters with a proof and returns the token without keeping it', async () => {
    answer({ access_token: 'at-x', token_type: 'DPoP', issued_token_type: TYPE, expires_in: 60 })
    const tokens = createTokenClient({ metadata, clientId: 'c', key })
    const set = await tokens.exchangeToken({
      subjectToken: 'subject-token',
      actorToken: 'actor-token',
      audience: ['urn:a', 'urn:b'],
      scope: 'read',
      resource: 'https://r1',
    })
    expect(set).toMatchObject({ accessToken: 'at-x', tokenType: 'DPoP', issuedTokenType: TYPE })
    expect(tokens.tokens).toBeUndefined()
    const seen = server.seen[0]!
    const body = new URLSearchParams(seen.body)
    expect(Object.fromEntries(body)).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'subject-token',
      subject_token_type: TYPE,
      actor_token: 'actor-token',
      actor_token_type: TYPE,
      scope: 'read',
      resource: 'https://r1',
    })
    expect(body.getAll('audience')).toEqual(['urn:a', 'urn:b'])
    expect(seen.proof?.claims).toMatchObject({ htm: 'POST', htu: `${server.url}/token` })
  })

  it('refuses an answer without issued_token_type, or with a Bearer token (C4)', async () => {
    const tokens = createTokenClient({ metadata, clientId: 'c', key })
    answer({ access_token: 'at-x', token_type: 'DPoP' })
    await expect(tokens.exchangeToken({ subjectToken: 's' })).rejects.toBeInstanceOf(
      InvalidResponse,
    )
    answer({ access_token: 'at-x', token_type: 'Bearer', issued_token_type: TYPE })
    await expect(tokens.exchangeToken({ subjectToken: 's' })).rejects.toBeInstanceOf(
      TokenTypeMismatch,
    )
  })
})
