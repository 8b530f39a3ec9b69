/**
 * Pair: oauth4webapi 3 (panva) as the client -> our authorization server and our resource
 * server, over real HTTP on 127.0.0.1: client_credentials, authorization code + PKCE + DPoP +
 * PAR (the login is scripted over HTTP), refresh, with the AS nonce (§8) and the RS nonce (§9)
 * answered by oauth4webapi's explicit `isDPoPNonceError` retry. (Moved here from the
 * authorization-server package, and extended with the resource-server half.)
 */
import { calculateJwkThumbprint, exportJWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { introspectedAccessTokens, jwtAccessTokens } from '@keybound/server'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { compatSuite } from './support/compat.js'
import {
  loginAtKeyboundAs,
  REDIRECT,
  SECRET,
  startKeyboundAs,
  type KeyboundAs,
} from './support/keybound-as.js'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'
import { insecure, recordingOptions, withNonceRetry } from './support/oauth4webapi.js'

const compat = compatSuite('oauth4webapi-our-servers')
const PEER = 'oauth4webapi'

let as: KeyboundAs
let authorizationServer: oauth.AuthorizationServer
let rs: KeyboundRs
let opaqueRs: KeyboundRs
/** Every request, as "METHOD /path status", to see the nonce rounds. */
const { wire, options: counting } = recordingOptions()

async function newDPoP(client: oauth.Client) {
  const keyPair = await oauth.generateKeyPair('ES256')
  return {
    DPoP: oauth.DPoP(client, keyPair),
    jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)),
  }
}

function payloadOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())
}

async function callRs(accessToken: string, DPoP: oauth.DPoPHandle, base = rs.url) {
  const response = await withNonceRetry(() =>
    oauth.protectedResourceRequest(
      accessToken,
      'GET',
      new URL(`${base}/items`),
      new Headers(),
      null,
      { DPoP, ...insecure },
    ),
  )
  expect(response.status).toBe(200)
  return (await response.json()) as Record<string, unknown>
}

async function clientCredentials(
  client: oauth.Client,
  auth: oauth.ClientAuth,
  DPoP: oauth.DPoPHandle,
) {
  return withNonceRetry(async () =>
    oauth.processClientCredentialsResponse(
      authorizationServer,
      client,
      await oauth.clientCredentialsGrantRequest(
        authorizationServer,
        client,
        auth,
        { scope: 'read' },
        { DPoP, ...counting },
      ),
    ),
  )
}

beforeAll(async () => {
  ;[rs, opaqueRs] = await Promise.all([startKeyboundRs(), startKeyboundRs()])
  as = await startKeyboundAs(rs.url)
  rs.configure({
    accessTokens: jwtAccessTokens({
      issuer: as.issuer,
      audience: rs.url,
      jwksUri: as.url('/jwks'),
    }),
    scopes: ['read'],
  })
  opaqueRs.configure({
    accessTokens: introspectedAccessTokens({
      endpoint: as.url('/introspect'),
      clientId: 'resource-server',
      clientSecret: SECRET,
      audience: rs.url,
    }),
    scopes: ['read'],
  })
  const issuer = new URL(as.issuer)
  authorizationServer = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
  )
})

afterAll(async () => {
  await Promise.all([as?.close(), rs?.close(), opaqueRs?.close()])
})

describe('client_credentials', () => {
  compat.it(
    PEER,
    'client_credentials (client_secret_basic) + DPoP: AS nonce retry, token at our RS with RS nonce retry',
    async () => {
      const client: oauth.Client = { client_id: 'service' }
      const { DPoP, jkt } = await newDPoP(client)
      wire.length = 0
      const tokens = await clientCredentials(client, oauth.ClientSecretBasic(SECRET), DPoP)
      expect(wire).toEqual(['POST /token 400', 'POST /token 200'])
      expect(tokens.token_type).toBe('dpop')
      expect(payloadOf(tokens.access_token)).toMatchObject({ client_id: 'service', cnf: { jkt } })
      const before = rs.statuses.length
      expect(await callRs(tokens.access_token, DPoP)).toEqual({
        subject: 'service',
        clientId: 'service',
        scope: ['read'],
        jkt,
      })
      expect(rs.statuses.slice(before)).toEqual([401, 200])
    },
  )

  compat.it(PEER, 'client_credentials (client_secret_post) + DPoP', async () => {
    const client: oauth.Client = { client_id: 'service-post' }
    const { DPoP, jkt } = await newDPoP(client)
    const tokens = await clientCredentials(client, oauth.ClientSecretPost(SECRET), DPoP)
    expect(payloadOf(tokens.access_token).cnf).toEqual({ jkt })
    expect(await callRs(tokens.access_token, DPoP)).toMatchObject({ clientId: 'service-post', jkt })
  })

  compat.it(PEER, 'opaque DPoP token at our RS through introspection (cnf.jkt)', async () => {
    const client: oauth.Client = { client_id: 'opaque-service' }
    const { DPoP, jkt } = await newDPoP(client)
    const tokens = await clientCredentials(client, oauth.ClientSecretBasic(SECRET), DPoP)
    expect(await callRs(tokens.access_token, DPoP, opaqueRs.url)).toMatchObject({ jkt })
  })

  compat.it(PEER, 'our RS refuses the token as Bearer and with another DPoP key', async () => {
    const client: oauth.Client = { client_id: 'service' }
    const { DPoP } = await newDPoP(client)
    const tokens = await clientCredentials(client, oauth.ClientSecretBasic(SECRET), DPoP)
    const thief = (await newDPoP(client)).DPoP
    const stolen = await callRs(tokens.access_token, thief).catch((e: unknown) => e)
    expect(stolen).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
    expect((stolen as oauth.WWWAuthenticateChallengeError).cause[0]).toMatchObject({
      scheme: 'dpop',
      parameters: { error: 'invalid_token' },
    })
    // Without a DPoP handle oauth4webapi sends `Authorization: Bearer` (§7.2: MUST refuse).
    const bearer = await oauth
      .protectedResourceRequest(
        tokens.access_token,
        'GET',
        new URL(`${rs.url}/items`),
        new Headers(),
        null,
        insecure,
      )
      .catch((e: unknown) => e)
    expect(bearer).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
    expect((bearer as oauth.WWWAuthenticateChallengeError).cause[0]).toMatchObject({
      scheme: 'bearer',
      parameters: { error: 'invalid_token' },
    })
  })
})

describe('authorization code + PKCE + DPoP + PAR, refresh', () => {
  compat.it(
    PEER,
    'authorization code + PKCE + DPoP + PAR (nonce at /par), RS call, refresh; another key cannot refresh',
    async () => {
      const client: oauth.Client = { client_id: 'public-app' }
      const clientAuth = oauth.None()
      const { DPoP, jkt } = await newDPoP(client)
      const verifier = oauth.generateRandomCodeVerifier()
      const state = oauth.generateRandomState()
      wire.length = 0
      const pushed = await withNonceRetry(async () =>
        oauth.processPushedAuthorizationResponse(
          authorizationServer,
          client,
          await oauth.pushedAuthorizationRequest(
            authorizationServer,
            client,
            clientAuth,
            {
              redirect_uri: REDIRECT,
              scope: 'read write',
              code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
              code_challenge_method: 'S256',
              state,
              response_type: 'code',
            },
            { DPoP, ...counting },
          ),
        ),
      )
      const authorizationUrl = new URL(authorizationServer.authorization_endpoint!)
      authorizationUrl.searchParams.set('client_id', client.client_id)
      authorizationUrl.searchParams.set('request_uri', pushed.request_uri)
      const callback = oauth.validateAuthResponse(
        authorizationServer,
        client,
        await loginAtKeyboundAs(authorizationUrl),
        state,
      )
      const tokens = await withNonceRetry(async () =>
        oauth.processAuthorizationCodeResponse(
          authorizationServer,
          client,
          await oauth.authorizationCodeGrantRequest(
            authorizationServer,
            client,
            clientAuth,
            callback,
            REDIRECT,
            verifier,
            { DPoP, ...counting },
          ),
        ),
      )
      expect(wire).toEqual(['POST /par 400', 'POST /par 201', 'POST /token 200'])
      expect(tokens.token_type).toBe('dpop')
      expect(payloadOf(tokens.access_token)).toMatchObject({ sub: 'user-alice', cnf: { jkt } })
      expect(await callRs(tokens.access_token, DPoP)).toMatchObject({ subject: 'user-alice', jkt })

      const refresh = (refreshToken: string, handle: oauth.DPoPHandle) =>
        withNonceRetry(async () =>
          oauth.processRefreshTokenResponse(
            authorizationServer,
            client,
            await oauth.refreshTokenGrantRequest(
              authorizationServer,
              client,
              clientAuth,
              refreshToken,
              {
                DPoP: handle,
                ...insecure,
              },
            ),
          ),
        )
      const refreshed = await refresh(tokens.refresh_token!, DPoP)
      expect(payloadOf(refreshed.access_token).cnf).toEqual({ jkt })
      expect(await callRs(refreshed.access_token, DPoP)).toMatchObject({ jkt })
      // A second DPoP key (another oauth4webapi handle) cannot use the refresh token (§5).
      const other = (await newDPoP(client)).DPoP
      await expect(refresh(refreshed.refresh_token!, other)).rejects.toMatchObject({
        error: 'invalid_grant',
      })
    },
  )

  compat.it(PEER, 'authorization code + PKCE with dpop_jkt (§10), no PAR', async () => {
    const client: oauth.Client = { client_id: 'public-app' }
    const { DPoP, jkt } = await newDPoP(client)
    const verifier = oauth.generateRandomCodeVerifier()
    const url = new URL(authorizationServer.authorization_endpoint!)
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'read',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      dpop_jkt: jkt,
    }))
      url.searchParams.set(name, value)
    const callback = oauth.validateAuthResponse(
      authorizationServer,
      client,
      await loginAtKeyboundAs(url),
      oauth.expectNoState,
    )
    const tokens = await withNonceRetry(async () =>
      oauth.processAuthorizationCodeResponse(
        authorizationServer,
        client,
        await oauth.authorizationCodeGrantRequest(
          authorizationServer,
          client,
          oauth.None(),
          callback,
          REDIRECT,
          verifier,
          { DPoP, ...insecure },
        ),
      ),
    )
    expect(payloadOf(tokens.access_token).cnf).toEqual({ jkt })
  })
})
