/**
 * Interop with a real, independent authorization server: `oidc-provider` (panva) on 127.0.0.1
 * with DPoP and nonces on issues an RFC 9068 JWT access token bound to a Keybound key
 * (client_credentials), and a Keybound resource server, reading the provider's JWKS over HTTP,
 * accepts it once and refuses replays, foreign keys and the Bearer scheme with RFC 9449 §7
 * challenges.
 *
 * oidc-provider as the verifier of Keybound proofs (and where it departs from RFC 9449) is
 * tested in the interop suite: interop/test/our-proofs-peers.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { calculateAth, createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { protect, type ProtectedHandler } from '@keybound/server/node'
import {
  exportJWK,
  generateKeyPair as generateSigningKey,
  decodeJwt,
  decodeProtectedHeader,
} from 'jose'
import Provider from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeServer, listen } from '@keybound/test-kit/net'

// The resource indicator (RFC 8707) the token is issued for, which is also the resource
// server's public base URL: the `aud` of the token and the origin of every `htu`.
const RESOURCE = 'https://rs.oidc.test'
const CLIENT_ID = 'keybound-service'
const CLIENT_SECRET = randomBytes(24).toString('base64url')
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`

let asServer: Server
let rsServer: Server
let issuer: string
let tokenEndpoint: string
let jwksUri: string
let rsUrl: string
let rsBearerServer: Server
let rsBearerUrl: string

function tokenRequest(proof: string): Promise<Response> {
  return fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: BASIC,
      dpop: proof,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'read',
      resource: RESOURCE,
    }),
  })
}

/** RFC 9449 §8: the first proof has no nonce, the AS answers `use_dpop_nonce`, retry once. */
async function getToken(key: DPoPKeyPair): Promise<{ token: string; firstReply: Response }> {
  const firstReply = await tokenRequest(await createProof(key, { htm: 'POST', htu: tokenEndpoint }))
  const nonce = firstReply.headers.get('dpop-nonce') ?? undefined
  const reply = await tokenRequest(
    await createProof(key, { htm: 'POST', htu: tokenEndpoint, nonce }),
  )
  expect(reply.status).toBe(200)
  const body = (await reply.json()) as { access_token: string; token_type: string }
  expect(body.token_type).toBe('DPoP')
  return { token: body.access_token, firstReply }
}

function callResource(headers: Record<string, string>, base = rsUrl): Promise<Response> {
  return fetch(`${base}/reports`, { headers })
}

beforeAll(async () => {
  const { privateKey } = await generateSigningKey('ES256', { extractable: true })
  const signingJwk = { ...(await exportJWK(privateKey)), kid: 'as-es256', alg: 'ES256', use: 'sig' }
  asServer = createServer()
  issuer = (await listen(asServer)).url
  const provider = new Provider(issuer, {
    jwks: { keys: [signingJwk] },
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'read write',
        // The only signing key is ES256; the default (RS256) would make the client invalid.
        id_token_signed_response_alg: 'ES256',
      },
    ],
    scopes: ['read', 'write'],
    ttl: { ClientCredentials: 300 },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      // Nonces on, for every request (RFC 9449 §8).
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'read write',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  })
  asServer.on('request', provider.callback())
  const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string
    jwks_uri: string
    dpop_signing_alg_values_supported: string[]
  }
  expect(metadata.dpop_signing_alg_values_supported).toContain('ES256')
  tokenEndpoint = metadata.token_endpoint
  jwksUri = metadata.jwks_uri

  const handler: ProtectedHandler = (_req, res, identity) => {
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify({ clientId: identity.clientId, scope: identity.scope, jkt: identity.jkt }),
    )
  }
  const options = {
    publicBaseUrl: RESOURCE,
    accessTokens: jwtAccessTokens({ issuer, audience: RESOURCE, jwksUri }),
    // One algorithm, so that the challenges read exactly like RFC 9449 Fig. 16.
    algorithms: ['ES256'],
  }
  rsServer = createServer(protect(createResourceServer(options), handler, { scopes: ['read'] }))
  rsUrl = (await listen(rsServer)).url
  // The same API, also open to unbound Bearer tokens (Fig. 17): a bound token must still be refused.
  const bearerToo = createResourceServer({ ...options, allowBearer: true })
  rsBearerServer = createServer(protect(bearerToo, handler, { scopes: ['read'] }))
  rsBearerUrl = (await listen(rsBearerServer)).url
})

afterAll(async () => {
  await closeServer(rsServer)
  await closeServer(rsBearerServer)
  await closeServer(asServer)
})

describe('oidc-provider tokens at a Keybound resource server', () => {
  it('issues an RFC 9068 token bound to the Keybound key after one use_dpop_nonce round', async () => {
    const key = await generateKeyPair('ES256')
    const { token, firstReply } = await getToken(key)
    // §8 Fig. 20: 400, `use_dpop_nonce` in the body, exactly one DPoP-Nonce, not cacheable.
    expect(firstReply.status).toBe(400)
    expect(await firstReply.json()).toMatchObject({ error: 'use_dpop_nonce' })
    expect(firstReply.headers.get('dpop-nonce')).toMatch(/^[\x21-\x7e]+$/)
    expect(firstReply.headers.get('cache-control')).toBe('no-store')
    // The JWT is what RFC 9068 and RFC 9449 §6.1 describe.
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' })
    expect(decodeJwt(token)).toMatchObject({
      iss: issuer,
      aud: RESOURCE,
      client_id: CLIENT_ID,
      scope: 'read',
      cnf: { jkt: key.jkt },
    })
  })

  it('is accepted once with a fresh proof; the same proof again is a replay', async () => {
    const key = await generateKeyPair('ES256')
    const { token } = await getToken(key)
    const proof = await createProof(key, {
      htm: 'GET',
      htu: `${RESOURCE}/reports`,
      accessToken: token,
    })
    const accepted = await callResource({ authorization: `DPoP ${token}`, dpop: proof })
    expect(accepted.status).toBe(200)
    expect(await accepted.json()).toEqual({ clientId: CLIENT_ID, scope: ['read'], jkt: key.jkt })
    expect(accepted.headers.get('www-authenticate')).toBeNull()

    const replayed = await callResource({ authorization: `DPoP ${token}`, dpop: proof })
    expect(replayed.status).toBe(401)
    expect(replayed.headers.get('www-authenticate')).toBe(
      'DPoP error="invalid_dpop_proof", error_description="DPoP proof already used", algs="ES256"',
    )
    expect(await replayed.json()).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof already used',
    })

    // A second fresh proof with the same token is fine: the token is reusable, proofs are not.
    const again = await createProof(key, {
      htm: 'GET',
      htu: `${RESOURCE}/reports`,
      accessToken: token,
    })
    expect((await callResource({ authorization: `DPoP ${token}`, dpop: again })).status).toBe(200)
  })

  it('refuses a valid proof from another key: invalid_token, exactly RFC 9449 Fig. 16', async () => {
    const key = await generateKeyPair('ES256')
    const { token } = await getToken(key)
    const thief = await generateKeyPair('ES256')
    // A well-formed proof for this very request and token (right `ath`), signed by the wrong key.
    const proof = await createProof(thief, {
      htm: 'GET',
      htu: `${RESOURCE}/reports`,
      accessToken: token,
    })
    const reply = await callResource({ authorization: `DPoP ${token}`, dpop: proof })
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toBe(
      'DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"',
    )
    expect(await reply.json()).toEqual({
      error: 'invalid_token',
      error_description: 'Invalid DPoP key binding',
    })
  })

  it('refuses the bound token as a Bearer token, with the error on the Bearer challenge (§7.2)', async () => {
    const key = await generateKeyPair('ES256')
    const { token } = await getToken(key)
    const proof = await createProof(key, {
      htm: 'GET',
      htu: `${RESOURCE}/reports`,
      accessToken: token,
    })

    // A DPoP-only API refuses the Bearer scheme as such (the token is not even looked at).
    const dpopOnly = await callResource({ authorization: `Bearer ${token}` })
    expect(dpopOnly.status).toBe(401)
    expect(dpopOnly.headers.get('www-authenticate')).toBe(
      'Bearer error="invalid_token", error_description="Bearer tokens are not accepted", DPoP algs="ES256"',
    )
    expect(await dpopOnly.json()).toEqual({
      error: 'invalid_token',
      error_description: 'Bearer tokens are not accepted',
    })

    // An API that takes Bearer tokens too still MUST refuse this one: it carries cnf.jkt (§7.2).
    const headerSets: Record<string, string>[] = [
      { authorization: `Bearer ${token}` },
      { authorization: `Bearer ${token}`, dpop: proof },
    ]
    for (const headers of headerSets) {
      const reply = await callResource(headers, rsBearerUrl)
      expect(reply.status).toBe(401)
      expect(reply.headers.get('www-authenticate')).toBe(
        'Bearer error="invalid_token", error_description="DPoP-bound access token requires the DPoP scheme", DPoP algs="ES256"',
      )
      expect(await reply.json()).toEqual({
        error: 'invalid_token',
        error_description: 'DPoP-bound access token requires the DPoP scheme',
      })
    }
    // With the DPoP scheme the same token and proof are fine there.
    expect(
      (await callResource({ authorization: `DPoP ${token}`, dpop: proof }, rsBearerUrl)).status,
    ).toBe(200)
  })

  it('refuses a proof whose ath is for another token (§4.3 item 12)', async () => {
    const key = await generateKeyPair('ES256')
    const { token } = await getToken(key)
    const { token: other } = await getToken(key)
    expect(await calculateAth(other)).not.toBe(await calculateAth(token))
    const proof = await createProof(key, {
      htm: 'GET',
      htu: `${RESOURCE}/reports`,
      accessToken: other,
    })
    const reply = await callResource({ authorization: `DPoP ${token}`, dpop: proof })
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toBe(
      'DPoP error="invalid_dpop_proof", error_description="DPoP proof ath mismatch", algs="ES256"',
    )
  })
})
