/**
 * Pair: oauth4webapi 3 (panva; its client is certified by the OpenID Foundation for FAPI 2.0)
 * -> our authorization server under `profile: fapi2` and our resource server, over real HTTP on
 * 127.0.0.1: PAR + private_key_jwt + DPoP + PKCE S256, the RFC 9207 `iss` check on the
 * authorization response, the DPoP-bound token at our resource server, and a refresh under the
 * profile's no-rotation rule. Every nonce round (§8, §9) is answered by oauth4webapi's explicit
 * `isDPoPNonceError` retry.
 */
import { calculateJwkThumbprint, exportJWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { jwtAccessTokens } from '@keybound/server'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { compatSuite } from './support/compat.js'
import {
  loginAtKeyboundAs,
  REDIRECT,
  startKeyboundAs,
  type KeyboundAs,
} from './support/keybound-as.js'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'
import { insecure, recordingOptions, withNonceRetry } from './support/oauth4webapi.js'

const compat = compatSuite('oauth4webapi-fapi2')
const PEER = 'oauth4webapi'

let as: KeyboundAs
let rs: KeyboundRs
let authorizationServer: oauth.AuthorizationServer
let clientKey: CryptoKeyPair
/** Every request, as "METHOD /path status", to see the nonce rounds. */
const { wire, options: counting } = recordingOptions()

function payloadOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())
}

beforeAll(async () => {
  clientKey = await oauth.generateKeyPair('ES256', { extractable: true })
  rs = await startKeyboundRs()
  as = await startKeyboundAs(rs.url, {
    profile: 'fapi2',
    clients: [
      {
        client_id: 'fapi-client',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(clientKey.publicKey)), kid: 'fapi-key-1' }] },
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'read',
        first_party: true,
      },
    ],
  })
  rs.configure({
    accessTokens: jwtAccessTokens({
      issuer: as.issuer,
      audience: rs.url,
      jwksUri: as.url('/jwks'),
    }),
    scopes: ['read'],
    extra: { algorithms: ['PS256', 'ES256', 'EdDSA'] },
  })
  const issuer = new URL(as.issuer)
  authorizationServer = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
  )
})

afterAll(async () => {
  await Promise.all([as?.close(), rs?.close()])
})

describe('FAPI 2.0 Security Profile with DPoP', () => {
  compat.it(
    PEER,
    'FAPI 2.0 profile: PAR + private_key_jwt + DPoP + PKCE S256, iss checked, RS call, refresh without rotation',
    async () => {
      expect(authorizationServer).toMatchObject({
        require_pushed_authorization_requests: true,
        authorization_response_iss_parameter_supported: true,
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      })
      const client: oauth.Client = { client_id: 'fapi-client' }
      const clientAuth = oauth.PrivateKeyJwt({ key: clientKey.privateKey, kid: 'fapi-key-1' })
      const dpopKey = await oauth.generateKeyPair('ES256', { extractable: true })
      const DPoP = oauth.DPoP(client, dpopKey)
      const jkt = await calculateJwkThumbprint(await exportJWK(dpopKey.publicKey))
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
              scope: 'read',
              code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
              code_challenge_method: 'S256',
              state,
              response_type: 'code',
            },
            { DPoP, ...counting },
          ),
        ),
      )
      expect(pushed.expires_in).toBeLessThan(600)
      const authorizationUrl = new URL(authorizationServer.authorization_endpoint!)
      authorizationUrl.searchParams.set('client_id', client.client_id)
      authorizationUrl.searchParams.set('request_uri', pushed.request_uri)
      const redirect = await loginAtKeyboundAs(authorizationUrl)
      expect(redirect.searchParams.get('iss')).toBe(as.issuer)
      const callback = oauth.validateAuthResponse(authorizationServer, client, redirect, state)
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
      expect(payloadOf(tokens.access_token)).toMatchObject({
        client_id: 'fapi-client',
        sub: 'user-alice',
        cnf: { jkt },
      })
      const call = (accessToken: string) =>
        withNonceRetry(() =>
          oauth.protectedResourceRequest(
            accessToken,
            'GET',
            new URL(`${rs.url}/items`),
            new Headers(),
            null,
            { DPoP, ...insecure },
          ),
        )
      expect((await call(tokens.access_token)).status).toBe(200)

      const refreshed = await withNonceRetry(async () =>
        oauth.processRefreshTokenResponse(
          authorizationServer,
          client,
          await oauth.refreshTokenGrantRequest(
            authorizationServer,
            client,
            clientAuth,
            tokens.refresh_token!,
            { DPoP, ...insecure },
          ),
        ),
      )
      // FAPI 2.0: no rotation, so no new refresh token; the first one keeps working.
      expect(refreshed.refresh_token).toBeUndefined()
      expect(payloadOf(refreshed.access_token).cnf).toEqual({ jkt })
      expect((await call(refreshed.access_token)).status).toBe(200)
    },
  )

  compat.it(
    PEER,
    'FAPI 2.0 profile: a client_secret_basic request is refused (401 invalid_client, Basic challenge)',
    async () => {
      const client: oauth.Client = { client_id: 'fapi-client' }
      const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const refused = await withNonceRetry(async () =>
        oauth.processPushedAuthorizationResponse(
          authorizationServer,
          client,
          await oauth.pushedAuthorizationRequest(
            authorizationServer,
            client,
            oauth.ClientSecretBasic('not-a-secret-of-this-client'),
            {
              redirect_uri: REDIRECT,
              code_challenge: await oauth.calculatePKCECodeChallenge(
                oauth.generateRandomCodeVerifier(),
              ),
              code_challenge_method: 'S256',
              response_type: 'code',
            },
            { DPoP, ...insecure },
          ),
        ),
      ).catch((error: unknown) => error)
      // A 401 with a Basic challenge (RFC 6749 §5.2), which oauth4webapi reports as a challenge.
      expect(refused).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
      const challenge = refused as oauth.WWWAuthenticateChallengeError
      expect(challenge.status).toBe(401)
      expect(challenge.cause[0]?.scheme).toBe('basic')
      expect(await challenge.response.json()).toMatchObject({ error: 'invalid_client' })
    },
  )
})
