/**
 * Interop: oauth4webapi (panva) as the client, with DPoP and AS nonces on: client_credentials,
 * authorization code + PKCE + DPoP + PAR (the login is scripted over HTTP), and refresh.
 */
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DATABASES,
  decodeJwt,
  postForm,
  PASSWORD,
  REDIRECT,
  SECRET,
  startServer,
  type TestServer,
} from './support.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const

/** Runs a request, and once more when the server asks for a nonce (RFC 9449 §8; the DPoP handle keeps it). */
async function withNonceRetry<T>(attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt()
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error
    return attempt()
  }
}

async function login(authorizationUrl: URL): Promise<URL> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' })
  expect(page.status).toBe(200)
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!
  const interaction = /name="interaction" value="([^"]+)"/.exec(await page.text())![1]!
  const answer = await postForm(
    `${authorizationUrl.origin}/authorize/login`,
    { interaction, username: 'alice', password: PASSWORD },
    { cookie },
  )
  expect(answer.status).toBe(303)
  return new URL(answer.headers.get('location')!)
}

describe.each(DATABASES)('oauth4webapi against the authorization server on %s', (kind) => {
  let t: TestServer
  let as: oauth.AuthorizationServer

  beforeAll(async () => {
    t = await startServer(kind)
    const issuer = new URL(t.issuer)
    as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    )
  })
  afterAll(async () => {
    await t?.close()
  })

  it('client_credentials with DPoP and a nonce', async () => {
    const client: oauth.Client = { client_id: 'service' }
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    const tokens = await withNonceRetry(async () =>
      oauth.processClientCredentialsResponse(
        as,
        client,
        await oauth.clientCredentialsGrantRequest(
          as,
          client,
          oauth.ClientSecretBasic(SECRET),
          { scope: 'read' },
          { DPoP, ...insecure },
        ),
      ),
    )
    expect(tokens.token_type).toBe('dpop')
    expect(decodeJwt(tokens.access_token).payload.cnf.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('authorization code + PKCE + DPoP + PAR, then refresh', async () => {
    const client: oauth.Client = { client_id: 'public-app' }
    const clientAuth = oauth.None()
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const parameters = {
      redirect_uri: REDIRECT,
      scope: 'read write',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      response_type: 'code',
    }
    const pushed = await withNonceRetry(async () =>
      oauth.processPushedAuthorizationResponse(
        as,
        client,
        await oauth.pushedAuthorizationRequest(as, client, clientAuth, parameters, {
          DPoP,
          ...insecure,
        }),
      ),
    )
    const authorizationUrl = new URL(as.authorization_endpoint!)
    authorizationUrl.searchParams.set('client_id', client.client_id)
    authorizationUrl.searchParams.set('request_uri', pushed.request_uri)
    const callback = oauth.validateAuthResponse(as, client, await login(authorizationUrl), state)
    const tokens = await withNonceRetry(async () =>
      oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(
          as,
          client,
          clientAuth,
          callback,
          REDIRECT,
          verifier,
          { DPoP, ...insecure },
        ),
      ),
    )
    expect(tokens.token_type).toBe('dpop')
    expect(tokens.refresh_token).toBeDefined()
    const refreshed = await withNonceRetry(async () =>
      oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, {
          DPoP,
          ...insecure,
        }),
      ),
    )
    expect(refreshed.token_type).toBe('dpop')
    expect(decodeJwt(refreshed.access_token).payload.cnf).toEqual(
      decodeJwt(tokens.access_token).payload.cnf,
    )
    // A second DPoP key (another oauth4webapi handle) cannot use the refresh token.
    const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    await expect(
      withNonceRetry(async () =>
        oauth.processRefreshTokenResponse(
          as,
          client,
          await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token!, {
            DPoP: other,
            ...insecure,
          }),
        ),
      ),
    ).rejects.toMatchObject({ error: 'invalid_grant' })
  })
})
