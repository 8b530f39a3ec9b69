/**
 * Pair: tokens from our authorization server, used with proofs from our client, verified by
 * `express-oauth2-jwt-bearer` (Auth0) with DPoP on, in an Express 5 app on 127.0.0.1. It
 * validates the RFC 9068 profile our AS issues (`typ` at+jwt in `strict` mode, `iss`, `aud`,
 * `client_id`, `jti`, `iat`) and the RFC 9449 §4.3 / §7.1 checks it implements; the tests named
 * "limitation" / "deviation" pin down what it does not check.
 */
import { request as httpRequest } from 'node:http'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { clientSecretBasic, createTokenClient, discover } from '@keybound/client'
import express, { type ErrorRequestHandler } from 'express'
import { auth } from 'express-oauth2-jwt-bearer'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { compatSuite } from './support/compat.js'
import { SECRET, startKeyboundAs, type KeyboundAs } from './support/keybound-as.js'
import { closeServer, listen } from '@keybound/test-kit/net'

const compat = compatSuite('express-oauth2-jwt-bearer-our-as')
const PEER = 'express-oauth2-jwt-bearer'

let as: KeyboundAs
let api: string
let server: import('node:http').Server
let key: DPoPKeyPair
let token: string

/** A fresh token from our AS for `owner` (client_credentials, DPoP, AS nonce handled by our client). */
async function tokenFor(owner: DPoPKeyPair): Promise<string> {
  const tokens = createTokenClient({
    metadata: await discover(as.issuer),
    clientId: 'service',
    clientAuth: clientSecretBasic(SECRET),
    key: owner,
  })
  return (await tokens.clientCredentials({ scope: 'read' })).accessToken
}

function call(path: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${api}${path}`, { headers })
}

async function proofClaims(jwt: string): Promise<Record<string, any>> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())
}

function proof(owner: DPoPKeyPair, path: string, extra: Record<string, unknown> = {}) {
  return createProof(owner, { htm: 'GET', htu: `${api}${path}`, accessToken: token, ...extra })
}

beforeAll(async () => {
  const app = express()
  server = (await import('node:http')).createServer(app)
  api = (await listen(server)).url
  as = await startKeyboundAs(api)
  const common = {
    issuer: as.issuer,
    jwksUri: as.url('/jwks'),
    audience: api,
    tokenSigningAlg: 'ES256',
    // RFC 9068 profile: typ at+jwt, iat, sub, client_id, jti required.
    strict: true,
  }
  const show: express.RequestHandler = (req, res) => {
    res.json({ sub: req.auth!.payload.sub, cnf: req.auth!.payload.cnf, typ: req.auth!.header.typ })
  }
  // DPoP-only, and the default (DPoP enabled, Bearer tokens also accepted when not bound).
  app.get('/dpop-only', auth({ ...common, dpop: { enabled: true, required: true } }), show)
  app.get('/data', auth({ ...common, dpop: { enabled: true } }), show)
  const errors: ErrorRequestHandler = (error, _req, res, _next) => {
    const e = error as { status?: number; headers?: Record<string, string>; code?: string }
    res.status(e.status ?? 500)
    res.set(e.headers ?? {})
    res.json({ error: e.code })
  }
  app.use(errors)
  key = await generateKeyPair('ES256')
  token = await tokenFor(key)
})

afterAll(async () => {
  await Promise.all([server && closeServer(server), as?.close()])
})

describe('accepted', () => {
  compat.it(PEER, "our AS's RFC 9068 token (strict) with our client's DPoP fetch", async () => {
    const tokens = createTokenClient({
      metadata: await discover(as.issuer),
      clientId: 'service',
      clientAuth: clientSecretBasic(SECRET),
      key,
    })
    await tokens.clientCredentials({ scope: 'read' })
    const apiFetch = tokens.createFetch()
    for (const path of ['/dpop-only', '/data']) {
      const response = await apiFetch(`${api}${path}`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({
        sub: 'service',
        cnf: { jkt: key.jkt },
        typ: 'at+jwt',
      })
    }
  })

  compat.it(PEER, 'our proof with an extra header parameter and claim (§4.2 MAY)', async () => {
    const reply = await call('/dpop-only', {
      authorization: `DPoP ${token}`,
      dpop: await proof(key, '/dpop-only', { claims: { tx: 'extra' } }),
    })
    expect(reply.status).toBe(200)
  })
})

describe('refused', () => {
  compat.it(PEER, 'a valid proof from another key: 401 invalid_token', async () => {
    const thief = await generateKeyPair('ES256')
    const reply = await call('/dpop-only', {
      authorization: `DPoP ${token}`,
      dpop: await proof(thief, '/dpop-only'),
    })
    expect(reply.status).toBe(401)
    expect(await reply.json()).toEqual({ error: 'invalid_token' })
    expect(reply.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/)
  })

  // Invalid proofs are refused with `invalid_dpop_proof`; the status is 400, see the deviation below.
  compat.it(PEER, 'a proof whose ath is for another token: invalid_dpop_proof', async () => {
    const reply = await call('/dpop-only', {
      authorization: `DPoP ${token}`,
      dpop: await proof(key, '/dpop-only', { accessToken: `${token}x` }),
    })
    expect([400, 401]).toContain(reply.status)
    expect(await reply.json()).toEqual({ error: 'invalid_dpop_proof' })
  })

  compat.it(PEER, 'a proof for another URL or method: invalid_dpop_proof', async () => {
    for (const dpop of [
      await proof(key, '/data'),
      await createProof(key, { htm: 'POST', htu: `${api}/dpop-only`, accessToken: token }),
    ]) {
      const reply = await call('/dpop-only', { authorization: `DPoP ${token}`, dpop })
      expect([400, 401]).toContain(reply.status)
      expect(await reply.json()).toEqual({ error: 'invalid_dpop_proof' })
    }
  })

  compat.it(PEER, 'a proof whose jwk holds the private key: invalid_dpop_proof', async () => {
    const { createPrivateKey, sign } = await import('node:crypto')
    const { exportKeyPair } = await import('@keybound/core')
    const extractable = await generateKeyPair('ES256', { extractable: true })
    const privateJwk = await exportKeyPair(extractable)
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: privateJwk }
    const payload = {
      jti: crypto.randomUUID(),
      htm: 'GET',
      htu: `${api}/dpop-only`,
      iat: Math.floor(Date.now() / 1000),
      ath: (await proofClaims(await proof(key, '/dpop-only'))).ath,
    }
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
    const signature = sign('sha256', Buffer.from(input), {
      key: createPrivateKey({ key: privateJwk as never, format: 'jwk' }),
      dsaEncoding: 'ieee-p1363',
    })
    const reply = await call('/dpop-only', {
      authorization: `DPoP ${token}`,
      dpop: `${input}.${signature.toString('base64url')}`,
    })
    expect([400, 401]).toContain(reply.status)
    expect(await reply.json()).toEqual({ error: 'invalid_dpop_proof' })
  })

  compat.it(PEER, 'the bound token as Bearer (§7.2): 401 invalid_token', async () => {
    const reply = await call('/data', { authorization: `Bearer ${token}` })
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="api", error="invalid_token"/,
    )
  })

  compat.it(PEER, 'a stale proof (iat one hour ago): invalid_dpop_proof', async () => {
    const reply = await call('/dpop-only', {
      authorization: `DPoP ${token}`,
      dpop: await proof(key, '/dpop-only', { iat: Math.floor(Date.now() / 1000) - 3600 }),
    })
    expect([400, 401]).toContain(reply.status)
    expect(await reply.json()).toEqual({ error: 'invalid_dpop_proof' })
  })
})

describe('how it answers', () => {
  compat.deviation(
    PEER,
    'answers an invalid proof at the resource with HTTP 400',
    {
      rfc: '§7.1',
      note: 'an invalid proof at a protected resource gets 400 (with `WWW-Authenticate: DPoP error="invalid_dpop_proof"`); §7.1 answers failed DPoP authentication with 401 and the DPoP challenge (the OIDF suite accepts 400 or 401); Keybound answers 401',
    },
    async () => {
      const reply = await call('/dpop-only', {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, '/dpop-only', { accessToken: `${token}x` }),
      })
      expect(reply.status).toBe(400)
      expect(reply.headers.get('www-authenticate')).toMatch(
        /^DPoP error="invalid_dpop_proof", error_description="[^"]*", algs="[^"]+"$/,
      )
    },
  )
})

describe('what it does not check', () => {
  compat.deviation(
    PEER,
    'accepts the same proof twice (no jti replay check)',
    {
      kind: 'limitation',
      rfc: '§11.1',
      note: 'keeps no jti store, so a captured proof can be replayed within its iat window (300 s back, 30 s ahead by default); §11.1 says servers "can" track jti, Keybound does (in memory or Redis)',
    },
    async () => {
      const dpop = await proof(key, '/dpop-only')
      for (let i = 0; i < 2; i++) {
        const reply = await call('/dpop-only', { authorization: `DPoP ${token}`, dpop })
        expect(reply.status).toBe(200)
      }
    },
  )

  compat.deviation(
    PEER,
    'never asks for a nonce and ignores one sent (no DPoP-Nonce)',
    {
      kind: 'limitation',
      rfc: '§9',
      note: 'no resource-server nonces, so proof freshness rests on iat alone; Keybound issues stateless HMAC nonces when configured',
    },
    async () => {
      const reply = await call('/dpop-only', {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, '/dpop-only', { nonce: 'made-up-by-the-client' }),
      })
      expect(reply.status).toBe(200)
      expect(reply.headers.get('dpop-nonce')).toBeNull()
    },
  )

  compat.deviation(
    PEER,
    'accepts a proof whose htm is "get" on a GET request',
    {
      rfc: '§4.3 (8)',
      note: 'compares htm case-insensitively; HTTP methods are case-sensitive (RFC 9110 §9.1), so "htm matches the HTTP method" fails for "get" vs GET; Keybound compares exactly',
    },
    async () => {
      const reply = await call('/dpop-only', {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, '/dpop-only', { htm: 'get' }),
      })
      expect(reply.status).toBe(200)
    },
  )

  compat.deviation(
    PEER,
    'derives the expected htu from the Host header',
    {
      kind: 'limitation',
      rfc: '§4.3 (9)',
      note: 'the URL a proof must name is built from the request Host header (X-Forwarded-Host behind "trust proxy"), so a proof for any host name that reaches the app passes the htu check; Keybound uses configured public base URLs',
    },
    async () => {
      const elsewhere = 'http://other-host.example'
      const dpop = await createProof(key, {
        htm: 'GET',
        htu: `${elsewhere}/dpop-only`,
        accessToken: token,
      })
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${api}/dpop-only`, {
          headers: { host: 'other-host.example', authorization: `DPoP ${token}`, dpop },
        })
        req.on('response', (res) => {
          res.resume()
          resolve(res.statusCode!)
        })
        req.on('error', reject)
        req.end()
      })
      expect(status).toBe(200)
    },
  )
})
