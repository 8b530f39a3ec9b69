/**
 * A real authorization server for the client tests: `oidc-provider` on 127.0.0.1 with DPoP
 * (nonces required), PAR, client credentials, refresh tokens, PKCE and resource indicators
 * (JWT access tokens with `cnf.jkt`, RFC 9068), plus a scripted login/consent interaction.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'
import type { PublicJwk } from '@keybound/core'
import { listen } from './net.js'

export const REDIRECT_URI = 'https://client.example/cb'
export const CLIENT_SECRET = 'test-client-secret-0123456789abcdef0123456789abcdef'

export interface TestAuthorizationServer {
  issuer: string
  provider: Provider
  /** Token-endpoint responses the server sent, by status and error (for nonce-retry assertions). */
  tokenResponses: { path: string; status: number; error?: string }[]
  close(): Promise<void>
}

export async function startAuthorizationServer(options: {
  resource: string
  assertionJwk: PublicJwk
  accessTokenTtl?: number
  /** DPoP algorithms accepted (oidc-provider's default: ES256, Ed25519, EdDSA). */
  dpopAlgs?: string[]
}): Promise<TestAuthorizationServer> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const signingJwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'as-key-1' }
  const server: Server = createServer()
  const { url: issuer, close } = await listen(server)
  const common = {
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    id_token_signed_response_alg: 'ES256',
  }
  const provider = new Provider(issuer, {
    clients: [
      {
        ...common,
        client_id: 'public-app',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        dpop_bound_access_tokens: true,
      },
      {
        ...common,
        client_id: 'basic-app',
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      },
      {
        ...common,
        client_id: 'post-app',
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
      },
      {
        ...common,
        client_id: 'jwt-app',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [{ ...options.assertionJwk, kid: 'client-key-1', use: 'sig' }] },
        grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      },
    ],
    jwks: { keys: [signingJwk] },
    cookies: { keys: ['cookie-key-for-tests-only'] },
    scopes: ['openid', 'offline_access', 'api:read'],
    pkce: { required: () => true },
    ttl: { AccessToken: options.accessTokenTtl ?? 600, IdToken: 600 },
    ...(options.dpopAlgs && { enabledJWA: { dPoPSigningAlgValues: options.dpopAlgs as never } }),
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      pushedAuthorizationRequests: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api:read',
          audience: options.resource,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  })
  const tokenResponses: TestAuthorizationServer['tokenResponses'] = []
  provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error', error))
  const callback = provider.callback()
  server.on('request', async (req, res) => {
    if (req.url === '/token' || req.url === '/request') {
      const end = res.end.bind(res)
      res.end = ((chunk?: unknown, ...rest: unknown[]) => {
        let error: string | undefined
        try {
          error =
            typeof chunk === 'string' || Buffer.isBuffer(chunk)
              ? JSON.parse(String(chunk)).error
              : undefined
        } catch {}
        tokenResponses.push({
          path: req.url!,
          status: res.statusCode,
          ...(error === undefined ? {} : { error }),
        })
        return end(chunk as never, ...(rest as []))
      }) as typeof res.end
    }
    if (!req.url?.startsWith('/interaction/')) return callback(req, res)
    try {
      // The scripted user: logs in as "alice" and grants whatever the client asked for.
      const details = await provider.interactionDetails(req, res)
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: 'alice' } },
          { mergeWithLastSubmission: false },
        )
        return
      }
      const grant = details.grantId
        ? (await provider.Grant.find(details.grantId))!
        : new provider.Grant({
            accountId: details.session!.accountId,
            clientId: details.params.client_id as string,
          })
      const missing = details.prompt.details as {
        missingOIDCScope?: string[]
        missingResourceScopes?: Record<string, string[]>
      }
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '))
      }
      const grantId = await grant.save()
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      )
    } catch (error) {
      res.statusCode = 500
      res.end(String(error))
    }
  })
  return {
    issuer,
    provider,
    tokenResponses,
    close,
  }
}

/**
 * Plays the browser: follows the authorization URL through login and consent (keeping cookies)
 * until the authorization server redirects to the client's redirect URI, and returns that URL.
 */
export async function runBrowserLogin(authorizationUrl: string): Promise<string> {
  const cookies = new Map<string, string>()
  let url = authorizationUrl
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') },
    })
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const [name, ...value] = pair!.split('=')
      cookies.set(name!.trim(), value.join('='))
    }
    const location = response.headers.get('location')
    if (location === null)
      throw new Error(
        `authorization flow stopped at HTTP ${response.status}: ${await response.text()}`,
      )
    await response.body?.cancel()
    const next = new URL(location, url).href
    if (next.startsWith(REDIRECT_URI)) return next
    url = next
  }
  throw new Error('too many redirects in the authorization flow')
}
