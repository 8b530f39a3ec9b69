/**
 * Pair: DPoP proofs made by `dpop`, `oauth4webapi` and `jose` -> verified by our core, over real
 * HTTP: at our authorization server's token endpoint (AS nonce round, token bound to the peer's
 * key) and at our resource server (RS nonce round, `ath`, binding, replay). Every algorithm the
 * peer can make that Keybound allows.
 */
import * as dpop from 'dpop'
import { calculateJwkThumbprint, exportJWK, generateKeyPair as joseKeyPair, SignJWT } from 'jose'
import * as oauth from 'oauth4webapi'
import { jwtAccessTokens } from '@keybound/server'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { compatSuite } from './support/compat.js'
import { SECRET, startKeyboundAs, type KeyboundAs } from './support/keybound-as.js'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'

const compat = compatSuite('peer-proofs-our-core')

let as: KeyboundAs
let rs: KeyboundRs
const BASIC = `Basic ${Buffer.from(`service:${SECRET}`).toString('base64')}`

/** A peer's proof maker: the only thing that differs between `dpop` and `jose`. */
interface ProofMaker {
  jkt: string
  make(htm: string, htu: string, extra: { nonce?: string; accessToken?: string }): Promise<string>
}

async function dpopMaker(alg: dpop.JWSAlgorithm): Promise<ProofMaker> {
  const keyPair = await dpop.generateKeyPair(alg)
  return {
    jkt: await dpop.calculateThumbprint(keyPair.publicKey),
    make: (htm, htu, { nonce, accessToken }) =>
      dpop.generateProof(keyPair, htu, htm, nonce, accessToken),
  }
}

async function joseMaker(alg: string): Promise<ProofMaker> {
  const { privateKey, publicKey } = await joseKeyPair(alg)
  const jwk = await exportJWK(publicKey)
  return {
    jkt: await calculateJwkThumbprint(jwk),
    make: async (htm, htu, { nonce, accessToken }) => {
      const claims: Record<string, string> = { htm, htu }
      if (nonce !== undefined) claims.nonce = nonce
      if (accessToken !== undefined) {
        const hash = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))
        claims.ath = Buffer.from(hash).toString('base64url')
      }
      return new SignJWT(claims)
        .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk })
        .setIssuedAt()
        .setJti(crypto.randomUUID())
        .sign(privateKey)
    },
  }
}

async function tokenRequest(proof: string): Promise<Response> {
  return fetch(as.url('/token'), {
    method: 'POST',
    headers: {
      authorization: BASIC,
      dpop: proof,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }),
  })
}

/** The whole path for one peer key: AS nonce round, token, RS nonce round, call, replay. */
async function roundTrip(maker: ProofMaker): Promise<void> {
  const token = as.url('/token')
  const challenge = await tokenRequest(await maker.make('POST', token, {}))
  expect(challenge.status).toBe(400)
  expect(await challenge.json()).toMatchObject({ error: 'use_dpop_nonce' })
  const asNonce = challenge.headers.get('dpop-nonce')!
  const granted = await tokenRequest(await maker.make('POST', token, { nonce: asNonce }))
  expect(granted.status).toBe(200)
  const { access_token: accessToken, token_type: tokenType } = (await granted.json()) as {
    access_token: string
    token_type: string
  }
  expect(tokenType).toBe('DPoP')
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString())
  expect(claims.cnf).toEqual({ jkt: maker.jkt })

  const url = `${rs.url}/items`
  const call = (proof: string) =>
    fetch(url, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } })
  const first = await call(await maker.make('GET', url, { accessToken }))
  expect(first.status).toBe(401)
  expect(first.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/)
  const rsNonce = first.headers.get('dpop-nonce')!
  // RS and AS nonces are not interchangeable (§9).
  const withAsNonce = await call(await maker.make('GET', url, { accessToken, nonce: asNonce }))
  expect(withAsNonce.status).toBe(401)
  const proof = await maker.make('GET', url, { accessToken, nonce: rsNonce })
  const ok = await call(proof)
  expect(ok.status).toBe(200)
  expect(await ok.json()).toMatchObject({ clientId: 'service', jkt: maker.jkt })
  const replayed = await call(proof)
  expect(replayed.status).toBe(401)
  expect(replayed.headers.get('www-authenticate')).toMatch(/error="invalid_dpop_proof"/)
}

beforeAll(async () => {
  rs = await startKeyboundRs()
  as = await startKeyboundAs(rs.url)
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

describe('dpop (generateProof)', () => {
  for (const alg of ['ES256', 'PS256', 'RS256'] as const) {
    compat.it(
      'dpop',
      `${alg} proofs at our AS token endpoint and our RS (nonces, ath, replay)`,
      () => dpopMaker(alg).then(roundTrip),
    )
  }
})

describe('jose (SignJWT, typ dpop+jwt, embedded jwk)', () => {
  for (const alg of ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA']) {
    compat.it(
      'jose',
      `${alg} proofs at our AS token endpoint and our RS (nonces, ath, replay)`,
      () => joseMaker(alg).then(roundTrip),
    )
  }
})

describe('oauth4webapi (DPoP handle)', () => {
  for (const alg of ['ES256', 'PS256']) {
    compat.it('oauth4webapi', `${alg} proofs at our AS token endpoint and our RS`, async () => {
      const authorizationServer = await oauth.processDiscoveryResponse(
        new URL(as.issuer),
        await oauth.discoveryRequest(new URL(as.issuer), {
          algorithm: 'oauth2',
          [oauth.allowInsecureRequests]: true,
        }),
      )
      const client: oauth.Client = { client_id: 'service' }
      const keyPair = await oauth.generateKeyPair(alg)
      const DPoP = oauth.DPoP(client, keyPair)
      const retry = async <T>(attempt: () => Promise<T>): Promise<T> =>
        attempt().catch((error: unknown) => {
          if (!oauth.isDPoPNonceError(error)) throw error
          return attempt()
        })
      const options = { DPoP, [oauth.allowInsecureRequests]: true }
      const tokens = await retry(async () =>
        oauth.processClientCredentialsResponse(
          authorizationServer,
          client,
          await oauth.clientCredentialsGrantRequest(
            authorizationServer,
            client,
            oauth.ClientSecretBasic(SECRET),
            { scope: 'read' },
            options,
          ),
        ),
      )
      const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey))
      const response = await retry(() =>
        oauth.protectedResourceRequest(
          tokens.access_token,
          'GET',
          new URL(`${rs.url}/items`),
          new Headers(),
          null,
          options,
        ),
      )
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ jkt })
    })
  }
})

describe('Ed25519 keys: the fully-specified JWS alg "Ed25519" (RFC 9864)', () => {
  // oauth4webapi 3 and dpop 2 sign with an Ed25519 key as alg "Ed25519" (RFC 9864, registered in
  // IANA JOSE), not "EdDSA". Keybound accepts both names for Ed25519 keys.
  for (const [peer, make] of [
    ['dpop', () => dpopMaker('Ed25519')],
    ['jose', () => joseMaker('Ed25519')],
  ] as const) {
    compat.it(peer, 'Ed25519 proofs (alg "Ed25519") at our AS token endpoint and our RS', () =>
      make().then(roundTrip),
    )
  }
})
