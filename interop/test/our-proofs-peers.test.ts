/**
 * Pair: proofs made by our core (`createProof`) -> verified by peers over real HTTP:
 * oidc-provider's token endpoint (client_credentials, nonces required) and
 * express-oauth2-jwt-bearer at a protected Express route (token from our AS), for every
 * algorithm both sides allow. (The oidc-provider token-endpoint deviations were moved here
 * from the server package's oidc-provider test.)
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createProof, generateKeyPair, type DPoPAlgorithm, type DPoPKeyPair } from '@keybound/core'
import express from 'express'
import { auth } from 'express-oauth2-jwt-bearer'
import { exportJWK, generateKeyPair as joseKeyPair } from 'jose'
import Provider from 'oidc-provider'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { compatSuite } from './support/compat.js'
import { SECRET, startKeyboundAs, type KeyboundAs } from './support/keybound-as.js'
import { closeServer, listen } from '@keybound/test-kit/net'

const compat = compatSuite('our-proofs-peers')
const CLIENT_SECRET = randomBytes(24).toString('base64url')
const OIDC_ALGS = ['ES256', 'ES384', 'PS256', 'EdDSA'] as const
const EXPRESS_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'] as const

let oidcServer: Server
let tokenEndpoint: string
let expressServer: Server
let api: string
let as: KeyboundAs

function oidcTokenRequest(proof: string): Promise<Response> {
  return fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`keybound:${CLIENT_SECRET}`).toString('base64')}`,
      dpop: proof,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }),
  })
}

/** A nonce from oidc-provider, the way a client gets one: a proof without it is refused. */
async function oidcNonce(key: DPoPKeyPair): Promise<string> {
  const reply = await oidcTokenRequest(await createProof(key, { htm: 'POST', htu: tokenEndpoint }))
  expect(reply.status).toBe(400)
  expect(await reply.json()).toMatchObject({ error: 'use_dpop_nonce' })
  return reply.headers.get('dpop-nonce')!
}

beforeAll(async () => {
  const { privateKey } = await joseKeyPair('ES256', { extractable: true })
  oidcServer = createServer()
  const issuer = (await listen(oidcServer)).url
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'as', alg: 'ES256', use: 'sig' }] },
    clients: [
      {
        client_id: 'keybound',
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'read',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    scopes: ['read'],
    ttl: { ClientCredentials: 300 },
    enabledJWA: { dPoPSigningAlgValues: [...OIDC_ALGS] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      // JWT access tokens (RFC 9068), so the binding to our key can be read from cnf.jkt.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://rs.interop.test',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'read',
          audience: 'https://rs.interop.test',
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  })
  oidcServer.on('request', provider.callback())
  tokenEndpoint = `${issuer}/token`

  const app = express()
  expressServer = createServer(app)
  api = (await listen(expressServer)).url
  as = await startKeyboundAs(api)
  app.get(
    '/data',
    auth({
      issuer: as.issuer,
      jwksUri: as.url('/jwks'),
      audience: api,
      strict: true,
      dpop: { enabled: true, required: true },
    }),
    (req, res) => res.json({ jkt: (req.auth!.payload.cnf as { jkt: string }).jkt }),
  )
  app.use(((error, _req, res, _next) => {
    res.status(error.status ?? 500).json({ error: error.code })
  }) as express.ErrorRequestHandler)
})

afterAll(async () => {
  await Promise.all([
    oidcServer && closeServer(oidcServer),
    expressServer && closeServer(expressServer),
    as?.close(),
  ])
})

describe("oidc-provider's token endpoint verifies our proofs", () => {
  for (const alg of OIDC_ALGS) {
    compat.it('oidc-provider', `${alg} proofs with its nonce: token bound to our jkt`, async () => {
      const key = await generateKeyPair(alg as DPoPAlgorithm)
      const nonce = await oidcNonce(key)
      const reply = await oidcTokenRequest(
        await createProof(key, { htm: 'POST', htu: tokenEndpoint, nonce }),
      )
      expect(reply.status).toBe(200)
      const body = (await reply.json()) as { token_type: string; access_token: string }
      expect(body.token_type).toBe('DPoP')
      const claims = JSON.parse(
        Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString(),
      )
      expect(claims.cnf).toEqual({ jkt: key.jkt })
    })
  }

  compat.deviation(
    'oidc-provider',
    'answers a replayed token-endpoint proof with invalid_grant',
    {
      rfc: '§4.3, §11.1',
      note: 'a replayed proof at the token endpoint is refused, but with `invalid_grant` instead of `invalid_dpop_proof` (RFC 9449 §5; docs/requirements.md E1); Keybound answers `invalid_dpop_proof`',
    },
    async () => {
      const key = await generateKeyPair('ES256')
      const nonce = await oidcNonce(key)
      const proof = await createProof(key, { htm: 'POST', htu: tokenEndpoint, nonce })
      expect((await oidcTokenRequest(proof)).status).toBe(200)
      const replayed = await oidcTokenRequest(proof)
      expect(replayed.status).toBe(400)
      expect(await replayed.json()).toMatchObject({ error: 'invalid_grant' })
    },
  )

  compat.it('oidc-provider', 'a tampered signature is invalid_dpop_proof', async () => {
    const key = await generateKeyPair('ES256')
    const nonce = await oidcNonce(key)
    const proof = await createProof(key, { htm: 'POST', htu: tokenEndpoint, nonce })
    const tampered = `${proof.slice(0, -4)}${proof.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
    const reply = await oidcTokenRequest(tampered)
    expect(reply.status).toBe(400)
    // Its description says "invalid DPoP key binding" for a bad signature; the code is right.
    expect(await reply.json()).toMatchObject({ error: 'invalid_dpop_proof' })
  })
})

describe('express-oauth2-jwt-bearer verifies our proofs', () => {
  for (const alg of EXPRESS_ALGS) {
    compat.it('express-oauth2-jwt-bearer', `${alg} proofs with a token from our AS`, async () => {
      const key = await generateKeyPair(alg as DPoPAlgorithm)
      // Token from our AS bound to this key (our AS verifies the same key's proofs).
      const form = { grant_type: 'client_credentials', scope: 'read' }
      const post = (nonce?: string) =>
        createProof(key, { htm: 'POST', htu: as.url('/token'), ...(nonce ? { nonce } : {}) }).then(
          (dpop) =>
            fetch(as.url('/token'), {
              method: 'POST',
              headers: {
                authorization: `Basic ${Buffer.from(`service:${SECRET}`).toString('base64')}`,
                'content-type': 'application/x-www-form-urlencoded',
                dpop,
              },
              body: new URLSearchParams(form),
            }),
        )
      const first = await post()
      const granted = await post(first.headers.get('dpop-nonce') ?? undefined)
      expect(granted.status).toBe(200)
      const token = ((await granted.json()) as { access_token: string }).access_token
      const reply = await fetch(`${api}/data`, {
        headers: {
          authorization: `DPoP ${token}`,
          dpop: await createProof(key, { htm: 'GET', htu: `${api}/data`, accessToken: token }),
        },
      })
      expect(reply.status).toBe(200)
      expect(await reply.json()).toEqual({ jkt: key.jkt })
    })
  }
})
