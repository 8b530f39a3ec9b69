/**
 * Token exchange (RFC 8693) at our authorization server, driven by two clients over real HTTP
 * on 127.0.0.1: openid-client 6's generic grant call (`genericGrantRequest`) and our own
 * `exchangeToken()`. Both get DPoP-bound tokens that our resource server accepts with the new
 * key, as the holder and as a delegated actor named in `act`.
 */
import { calculateJwkThumbprint, exportJWK } from 'jose'
import * as client from 'openid-client'
import {
  clientSecretBasic,
  createMemoryKeyStore,
  createTokenClient,
  discover,
} from '@keybound/client'
import { jwtAccessTokens } from '@keybound/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compatSuite } from './support/compat.js'
import { SECRET, startKeyboundAs, type KeyboundAs } from './support/keybound-as.js'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'

const compat = compatSuite('token-exchange-our-as')
const PEER = 'openid-client'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

let as: KeyboundAs
let rs: KeyboundRs

function payloadOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())
}

beforeAll(async () => {
  rs = await startKeyboundRs()
  const exchanger = (client_id: string) => ({
    client_id,
    client_secret: SECRET,
    grant_types: ['client_credentials', TOKEN_EXCHANGE],
    scope: 'read write',
  })
  as = await startKeyboundAs(rs.url, {
    clients: [
      {
        client_id: 'service',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        scope: 'read write',
      },
      exchanger('gateway'),
      exchanger('orders'),
    ],
    tokenExchange: {
      audiences: [rs.url],
      delegation: [{ actor: 'orders', subjectClients: ['service'], audiences: [rs.url] }],
    },
  })
  rs.configure({
    accessTokens: jwtAccessTokens({
      issuer: as.issuer,
      audience: rs.url,
      jwksUri: as.url('/jwks'),
    }),
    scopes: ['read'],
  })
})

afterAll(async () => {
  await Promise.all([as?.close(), rs?.close()])
})

async function configure(clientId: string): Promise<client.Configuration> {
  return client.discovery(
    new URL(as.issuer),
    clientId,
    undefined,
    client.ClientSecretBasic(SECRET),
    { execute: [client.allowInsecureRequests] },
  )
}

async function newKey(): Promise<{ keyPair: client.CryptoKeyPair; jkt: string }> {
  const keyPair = await client.randomDPoPKeyPair('ES256')
  return { keyPair, jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) }
}

async function callRs(config: client.Configuration, token: string, DPoP: client.DPoPHandle) {
  const response = await client.fetchProtectedResource(
    config,
    token,
    new URL(`${rs.url}/items`),
    'GET',
    undefined,
    undefined,
    { DPoP },
  )
  return response.status
}

describe('token exchange with openid-client', () => {
  compat.it(
    PEER,
    'genericGrantRequest (token exchange) as the holder: a narrower DPoP-bound token our RS accepts',
    async () => {
      const config = await configure('gateway')
      expect(config.serverMetadata().grant_types_supported).toContain(TOKEN_EXCHANGE)
      const { keyPair, jkt } = await newKey()
      const DPoP = client.getDPoPHandle(config, keyPair)
      const subject = await client.clientCredentialsGrant(config, { scope: 'read write' }, { DPoP })
      const exchanged = await client.genericGrantRequest(
        config,
        TOKEN_EXCHANGE,
        {
          subject_token: subject.access_token,
          subject_token_type: ACCESS_TOKEN,
          audience: rs.url,
          scope: 'read',
        },
        { DPoP },
      )
      expect(exchanged.token_type).toBe('dpop')
      expect(exchanged.issued_token_type).toBe(ACCESS_TOKEN)
      expect(payloadOf(exchanged.access_token)).toMatchObject({
        scope: 'read',
        cnf: { jkt },
        client_id: 'gateway',
      })
      expect(await callRs(config, exchanged.access_token, DPoP)).toBe(200)
    },
  )

  compat.it(
    PEER,
    'genericGrantRequest (token exchange) as a delegated actor: act names it, the new key holds the token',
    async () => {
      const serviceConfig = await configure('service')
      const owner = await newKey()
      const subject = await client.clientCredentialsGrant(
        serviceConfig,
        { scope: 'read' },
        { DPoP: client.getDPoPHandle(serviceConfig, owner.keyPair) },
      )
      const config = await configure('orders')
      const actor = await newKey()
      const DPoP = client.getDPoPHandle(config, actor.keyPair)
      const exchanged = await client.genericGrantRequest(
        config,
        TOKEN_EXCHANGE,
        { subject_token: subject.access_token, subject_token_type: ACCESS_TOKEN, audience: rs.url },
        { DPoP },
      )
      expect(payloadOf(exchanged.access_token)).toMatchObject({
        sub: 'service',
        act: { sub: 'orders' },
        cnf: { jkt: actor.jkt },
      })
      expect(await callRs(config, exchanged.access_token, DPoP)).toBe(200)
      // The owner's key does not hold the actor's token.
      const ownerDPoP = client.getDPoPHandle(config, owner.keyPair)
      const refused = await callRs(config, exchanged.access_token, ownerDPoP).catch(
        (error: unknown) => error,
      )
      expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError)
      expect((refused as client.WWWAuthenticateChallengeError).status).toBe(401)
    },
  )

  compat.it(PEER, 'a refused exchange surfaces as ResponseBodyError invalid_target', async () => {
    const config = await configure('gateway')
    const { keyPair } = await newKey()
    const DPoP = client.getDPoPHandle(config, keyPair)
    const subject = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP })
    await expect(
      client.genericGrantRequest(
        config,
        TOKEN_EXCHANGE,
        {
          subject_token: subject.access_token,
          subject_token_type: ACCESS_TOKEN,
          audience: 'https://elsewhere.example/',
        },
        { DPoP },
      ),
    ).rejects.toMatchObject({ error: 'invalid_target' })
  })
})

describe('token exchange with @keybound/client', () => {
  it('exchangeToken() returns a DPoP-bound token with issued_token_type', async () => {
    const metadata = await discover(as.issuer, { allowInsecureHttp: true })
    const key = await createMemoryKeyStore().getKey()
    const tokens = createTokenClient({
      metadata,
      clientId: 'gateway',
      clientAuth: clientSecretBasic(SECRET),
      key,
      allowInsecureHttp: true,
    })
    const own = await tokens.clientCredentials({ scope: 'read write' })
    const exchanged = await tokens.exchangeToken({
      subjectToken: own.accessToken,
      audience: rs.url,
      scope: 'read',
    })
    expect(exchanged).toMatchObject({
      tokenType: 'DPoP',
      issuedTokenType: ACCESS_TOKEN,
      scope: 'read',
    })
    expect(payloadOf(exchanged.accessToken).cnf).toEqual({ jkt: await tokens.jkt() })
    // The exchanged token is returned, not kept: the client's own tokens are unchanged.
    expect(tokens.tokens?.accessToken).toBe(own.accessToken)
  })
})
