/**
 * Pair: openid-client 6 (panva) as the client -> our authorization server and our resource
 * server, over real HTTP on 127.0.0.1. Every grant (client_credentials with both secret methods,
 * authorization code + PKCE + DPoP through PAR and through `dpop_jkt`, refresh), the AS nonce
 * (§8) and the RS nonce (§9) answered by openid-client's own one-time retry, JWT tokens checked
 * against the JWKS and opaque tokens through introspection.
 */
import { calculateJwkThumbprint, exportJWK } from 'jose'
import * as client from 'openid-client'
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

const compat = compatSuite('openid-client-our-servers')
const PEER = 'openid-client'

let as: KeyboundAs
let rs: KeyboundRs
let opaqueRs: KeyboundRs
/** Every request openid-client sent, as "METHOD /path status". */
const wire: string[] = []

const countingFetch: client.CustomFetch = async (url, options) => {
  const response = await fetch(url, options as RequestInit)
  wire.push(`${options.method} ${new URL(url).pathname} ${response.status}`)
  return response
}

function configure(clientId: string, auth: client.ClientAuth): Promise<client.Configuration> {
  return client.discovery(new URL(as.issuer), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
    [client.customFetch]: countingFetch,
  })
}

async function newKey(): Promise<{ keyPair: client.CryptoKeyPair; jkt: string }> {
  const keyPair = await client.randomDPoPKeyPair('ES256')
  return { keyPair, jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) }
}

function payloadOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())
}

async function callRs(
  config: client.Configuration,
  accessToken: string,
  DPoP: client.DPoPHandle,
  base = rs.url,
): Promise<Record<string, unknown>> {
  const response = await client.fetchProtectedResource(
    config,
    accessToken,
    new URL(`${base}/items`),
    'GET',
    undefined,
    undefined,
    { DPoP },
  )
  expect(response.status).toBe(200)
  return (await response.json()) as Record<string, unknown>
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
})

afterAll(async () => {
  await Promise.all([as?.close(), rs?.close(), opaqueRs?.close()])
})

describe('discovery', () => {
  compat.it(PEER, 'discovery of our AS metadata (DPoP algs, PAR, iss parameter)', async () => {
    const config = await configure('service', client.ClientSecretBasic(SECRET))
    const metadata = config.serverMetadata()
    expect(metadata.issuer).toBe(as.issuer)
    expect(metadata.dpop_signing_alg_values_supported).toContain('ES256')
    expect(metadata.pushed_authorization_request_endpoint).toBe(as.url('/par'))
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true)
  })
})

describe('client_credentials', () => {
  compat.it(
    PEER,
    'client_credentials (client_secret_basic) + DPoP: AS nonce retry, token at our RS with RS nonce retry',
    async () => {
      const config = await configure('service', client.ClientSecretBasic(SECRET))
      const { keyPair, jkt } = await newKey()
      const DPoP = client.getDPoPHandle(config, keyPair)
      wire.length = 0
      const tokens = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP })
      // §8: the first proof has no nonce, our AS answers 400 use_dpop_nonce, openid-client retries.
      expect(wire).toEqual(['POST /token 400', 'POST /token 200'])
      expect(tokens.token_type).toBe('dpop')
      expect(payloadOf(tokens.access_token)).toMatchObject({ client_id: 'service', cnf: { jkt } })

      const before = rs.statuses.length
      expect(await callRs(config, tokens.access_token, DPoP)).toEqual({
        subject: 'service',
        clientId: 'service',
        scope: ['read'],
        jkt,
      })
      // §9: our RS asks for its own nonce once; the retry carries it.
      expect(rs.statuses.slice(before)).toEqual([401, 200])
      // The RS nonce is cached by the handle: the next call is one round trip.
      await callRs(config, tokens.access_token, DPoP)
      expect(rs.statuses.slice(before)).toEqual([401, 200, 200])
    },
  )

  compat.it(PEER, 'client_credentials (client_secret_post) + DPoP', async () => {
    const config = await configure('service-post', client.ClientSecretPost(SECRET))
    const { keyPair, jkt } = await newKey()
    const tokens = await client.clientCredentialsGrant(
      config,
      { scope: 'read' },
      { DPoP: client.getDPoPHandle(config, keyPair) },
    )
    expect(payloadOf(tokens.access_token).cnf).toEqual({ jkt })
  })

  compat.it(PEER, 'opaque DPoP token at our RS through introspection (cnf.jkt)', async () => {
    const config = await configure('opaque-service', client.ClientSecretBasic(SECRET))
    const { keyPair, jkt } = await newKey()
    const DPoP = client.getDPoPHandle(config, keyPair)
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP })
    expect(tokens.access_token.split('.')).toHaveLength(1)
    expect(await callRs(config, tokens.access_token, DPoP, opaqueRs.url)).toMatchObject({ jkt })
  })

  compat.it(PEER, 'our RS refuses the token with another DPoP key (invalid_token)', async () => {
    const config = await configure('service', client.ClientSecretBasic(SECRET))
    const owner = client.getDPoPHandle(config, (await newKey()).keyPair)
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP: owner })
    const thief = client.getDPoPHandle(config, (await newKey()).keyPair)
    const error = (await callRs(config, tokens.access_token, thief).catch((e: unknown) => e)) as {
      status: number
      cause: { scheme: string; parameters: Record<string, string> }[]
    }
    expect(error).toBeInstanceOf(client.WWWAuthenticateChallengeError)
    expect(error.status).toBe(401)
    expect(error.cause[0]).toMatchObject({
      scheme: 'dpop',
      parameters: { error: 'invalid_token', error_description: 'Invalid DPoP key binding' },
    })
  })
})

describe('authorization code + PKCE + DPoP', () => {
  compat.it(
    PEER,
    'authorization code + PKCE + DPoP + PAR (nonce at /par and /token), RS call, refresh; another key cannot refresh',
    async () => {
      const config = await configure('public-app', client.None())
      const { keyPair, jkt } = await newKey()
      const DPoP = client.getDPoPHandle(config, keyPair)
      const verifier = client.randomPKCECodeVerifier()
      const state = client.randomState()
      wire.length = 0
      const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
        config,
        {
          redirect_uri: REDIRECT,
          scope: 'read write',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
        },
        { DPoP },
      )
      expect(authorizationUrl.searchParams.get('request_uri')).toMatch(/^urn:/)
      const callback = await loginAtKeyboundAs(authorizationUrl)
      const tokens = await client.authorizationCodeGrant(
        config,
        callback,
        { pkceCodeVerifier: verifier, expectedState: state },
        undefined,
        { DPoP },
      )
      // The handle kept the AS nonce from /par, so /token needed no second round.
      expect(wire).toEqual(['POST /par 400', 'POST /par 201', 'POST /token 200'])
      expect(payloadOf(tokens.access_token)).toMatchObject({ sub: 'user-alice', cnf: { jkt } })
      expect(await callRs(config, tokens.access_token, DPoP)).toMatchObject({
        subject: 'user-alice',
        clientId: 'public-app',
        jkt,
      })

      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, {
        DPoP,
      })
      expect(refreshed.access_token).not.toBe(tokens.access_token)
      expect(payloadOf(refreshed.access_token).cnf).toEqual({ jkt })
      expect(await callRs(config, refreshed.access_token, DPoP)).toMatchObject({ jkt })

      // A public client's refresh token is bound to its key (RFC 9449 §5).
      const other = client.getDPoPHandle(config, (await newKey()).keyPair)
      await expect(
        client.refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: other }),
      ).rejects.toMatchObject({ error: 'invalid_grant' })
    },
  )

  compat.it(
    PEER,
    'authorization code + PKCE with dpop_jkt (§10) for a confidential client; another key cannot redeem',
    async () => {
      const config = await configure('confidential-app', client.ClientSecretBasic(SECRET))
      const { keyPair, jkt } = await newKey()
      const login = async () => {
        const verifier = client.randomPKCECodeVerifier()
        const state = client.randomState()
        const url = client.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT,
          scope: 'read',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          dpop_jkt: jkt,
        })
        return {
          callback: await loginAtKeyboundAs(url),
          checks: { pkceCodeVerifier: verifier, expectedState: state },
        }
      }
      const first = await login()
      const other = client.getDPoPHandle(config, (await newKey()).keyPair)
      await expect(
        client.authorizationCodeGrant(config, first.callback, first.checks, undefined, {
          DPoP: other,
        }),
      ).rejects.toMatchObject({ error: 'invalid_grant' })

      const second = await login()
      const DPoP = client.getDPoPHandle(config, keyPair)
      const tokens = await client.authorizationCodeGrant(
        config,
        second.callback,
        second.checks,
        undefined,
        { DPoP },
      )
      expect(payloadOf(tokens.access_token).cnf).toEqual({ jkt })
      expect(await callRs(config, tokens.access_token, DPoP)).toMatchObject({ jkt })
    },
  )
})
