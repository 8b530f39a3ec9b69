/**
 * `verifyRequest` itself: Web `Request` input, combined header values, hostile inputs (it never
 * throws and never accepts), option checks at build time, and outcome events for metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { calculateAth, createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  AccessTokenInvalid,
  createResourceServer,
  jwtAccessTokens,
  type AccessTokenValidator,
  type OutcomeEvent,
} from '@keybound/server'
import { dpop as expressDpop } from '@keybound/server/express'
import { dpop as honoDpop } from '@keybound/server/hono'
import { protect, requestLikeOf } from '@keybound/server/node'
import { send } from './support/http.js'
import { listen } from '@keybound/test-kit/net'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'

let issuer: TestIssuer
let key: DPoPKeyPair
let accessTokens: AccessTokenValidator

beforeAll(async () => {
  ;[issuer, key] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    generateKeyPair('ES256'),
  ])
  accessTokens = jwtAccessTokens({ issuer: issuer.issuer, audience: BASE, jwksUri: issuer.jwksUri })
})

afterAll(async () => {
  await issuer?.close()
})

async function signedRequest(path = '/items', method = 'GET') {
  const token = await issuer.mint({ jkt: key.jkt })
  const proof = await createProof(key, { htm: method, htu: `${BASE}${path}`, accessToken: token })
  return { token, proof }
}

describe('verifyRequest', () => {
  it('takes a Web Request as it is', async () => {
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
    const { token, proof } = await signedRequest()
    const request = new Request('http://internal-host:8080/items?x=1', {
      headers: { Authorization: `DPoP ${token}`, DPoP: proof },
    })
    const verdict = await resourceServer.verifyRequest(request)
    expect(verdict).toMatchObject({ ok: true, identity: { subject: 'alice', jkt: key.jkt } })
  })

  it('sees two credentials in a comma-joined Authorization value (RFC 9110 §5.3)', async () => {
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
    const { token, proof } = await signedRequest()
    const headers = new Headers()
    headers.append('Authorization', `Bearer ${token}`)
    headers.append('Authorization', `DPoP ${token}`)
    headers.set('DPoP', proof)
    const verdict = await resourceServer.verifyRequest({ method: 'GET', url: '/items', headers })
    expect(verdict).toMatchObject({ ok: false, status: 400, error: 'invalid_request' })
  })

  it('never throws and never accepts on hostile input', async () => {
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
    const { token, proof } = await signedRequest()
    const hostile: unknown[] = [
      null,
      {},
      { method: 'GET' },
      { method: 'GET', url: '/items', headers: null },
      { method: 'GET', url: 42, headers: { authorization: `DPoP ${token}`, dpop: proof } },
      { method: 'GET', url: '*', headers: { authorization: `DPoP ${token}`, dpop: proof } },
      {
        method: 'GET',
        url: '/items',
        headers: { authorization: `DPoP ${'a'.repeat(20_000)}`, dpop: proof },
      },
      {
        method: 'GET',
        url: '/items',
        headers: { authorization: `DPoP ${token}`, dpop: 'x'.repeat(10_000) },
      },
      { method: 'GET', url: '/items', headers: { authorization: `DPoP ${token}`, dpop: '' } },
      {
        method: 'GET',
        url: '/items',
        headers: { authorization: [`DPoP ${token}`, 42], dpop: [proof, {}] },
      },
      { method: 'get', url: '/items', headers: { authorization: `DPoP ${token}`, dpop: proof } },
    ]
    for (const request of hostile) {
      const verdict = await resourceServer.verifyRequest(request as never)
      expect(verdict.ok).toBe(false)
    }
  })

  it('validates its options when built', () => {
    expect(() =>
      createResourceServer({ publicBaseUrl: 'http://api.example.com', accessTokens }),
    ).toThrow(/https/)
    expect(() =>
      createResourceServer({ publicBaseUrl: 'https://api.example.com?x=1', accessTokens }),
    ).toThrow()
    expect(() =>
      createResourceServer({ publicBaseUrl: BASE, accessTokens, algorithms: ['HS256'] }),
    ).toThrow()
    expect(() =>
      createResourceServer({ publicBaseUrl: BASE, accessTokens, realm: 'a"b' }),
    ).toThrow()
    expect(() =>
      createResourceServer({ publicBaseUrl: BASE, accessTokens, nonces: { secret: 'short' } }),
    ).toThrow()
    expect(() => createResourceServer({ publicBaseUrl: BASE } as never)).toThrow()
    const resourceServer = createResourceServer({
      publicBaseUrl: 'http://127.0.0.1:8080',
      accessTokens,
    })
    expect(() => expressDpop(resourceServer, { scopes: ['bad"scope'] })).toThrow()
    expect(() => honoDpop(resourceServer, { scopes: [''] })).toThrow()
  })

  it('puts realm in every challenge', async () => {
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens,
      realm: 'api',
      allowBearer: true,
    })
    const verdict = await resourceServer.verifyRequest({
      method: 'GET',
      url: '/items',
      headers: {},
    })
    expect(verdict.responseHeaders['WWW-Authenticate']).toBe(
      'Bearer realm="api", DPoP realm="api", algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"',
    )
  })

  it('refuses tokens from a custom validator that throws anything, as invalid_token', async () => {
    const broken: AccessTokenValidator = {
      validate: async () => {
        throw new Error('database is on fire')
      },
    }
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens: broken })
    const { token, proof } = await signedRequest()
    const verdict = await resourceServer.verifyRequest({
      method: 'GET',
      url: '/items',
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    })
    expect(verdict).toMatchObject({ ok: false, status: 401, error: 'invalid_token' })
  })

  it('refuses a token bound by another confirmation method (e.g. mTLS x5t#S256) as Bearer', async () => {
    const custom: AccessTokenValidator = {
      validate: async (token) => {
        if (token !== 'cert-bound') throw new AccessTokenInvalid('unknown')
        return { claims: { cnf: { 'x5t#S256': 'abc' } }, scope: [] }
      },
    }
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: custom,
      allowBearer: true,
    })
    const verdict = await resourceServer.verifyRequest({
      method: 'GET',
      url: '/items',
      headers: { authorization: 'Bearer cert-bound' },
    })
    expect(verdict).toMatchObject({
      ok: false,
      status: 401,
      error: 'invalid_token',
      code: 'ERR_DPOP_BOUND_TOKEN_AS_BEARER',
    })
  })

  it('reads plain header records case-insensitively, own names only', async () => {
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
    const { token, proof } = await signedRequest()
    const mixedCase = { AUTHORIZATION: `DPoP ${token}`, Dpop: proof }
    expect(
      await resourceServer.verifyRequest({ method: 'GET', url: '/items', headers: mixedCase }),
    ).toMatchObject({ ok: true })
    // A name inherited from a prototype is not a header of this request.
    const inherited = Object.create({ dpop: proof }) as Record<string, string>
    inherited.authorization = `DPoP ${token}`
    expect(
      await resourceServer.verifyRequest({ method: 'GET', url: '/items', headers: inherited }),
    ).toMatchObject({ ok: false, status: 401, code: 'ERR_DPOP_PROOF_MISSING' })
  })

  it('hands validators the token hash (the ath) so they need not hash it again', async () => {
    const seen: Array<string | undefined> = []
    const recording: AccessTokenValidator = {
      validate: async (token, context) => {
        seen.push(context?.tokenHash)
        return accessTokens.validate(token, context)
      },
    }
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens: recording })
    const { token, proof } = await signedRequest()
    const verdict = await resourceServer.verifyRequest({
      method: 'GET',
      url: '/items',
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    })
    expect(verdict.ok).toBe(true)
    expect(seen).toEqual([await calculateAth(token)])
  })

  it('gives the same verdicts with the signature checked on the event loop (offloadSignature: false)', async () => {
    for (const offloadSignature of [true, false]) {
      const resourceServer = createResourceServer({
        publicBaseUrl: BASE,
        accessTokens,
        offloadSignature,
      })
      const { token, proof } = await signedRequest()
      const headers = { authorization: `DPoP ${token}`, dpop: proof }
      const request = { method: 'GET', url: '/items', headers }
      expect(await resourceServer.verifyRequest(request)).toMatchObject({ ok: true })
      const tampered = `${proof.slice(0, -2)}${proof.at(-2) === 'A' ? 'B' : 'A'}${proof.at(-1)}`
      expect(
        await resourceServer.verifyRequest({ ...request, headers: { ...headers, dpop: tampered } }),
      ).toMatchObject({ ok: false, status: 401, code: 'ERR_DPOP_SIGNATURE_INVALID' })
    }
  })
})

describe('requestLikeOf (@keybound/server/node), for code that calls verifyRequest itself', () => {
  it('keeps repeated Authorization and DPoP lines of a real request apart, and accepts a single pair', async () => {
    const resourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
    const server = createServer((req, res) => {
      void resourceServer.verifyRequest(requestLikeOf(req, req.url ?? '/')).then((verdict) => {
        res.statusCode = verdict.ok ? 200 : verdict.status
        res.end(verdict.ok ? (verdict.identity.subject ?? '') : (verdict.code ?? verdict.error))
      })
    })
    const { url, close } = await listen(server)
    try {
      const { token, proof } = await signedRequest()
      const accepted = await send(`${url}/items`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      })
      expect([accepted.status, accepted.body]).toEqual([200, 'alice'])
      const second = await signedRequest()
      const twoProofs = await send(`${url}/items`, {
        headers: { authorization: `DPoP ${second.token}`, dpop: [second.proof, second.proof] },
      })
      expect([twoProofs.status, twoProofs.body]).toEqual([401, 'ERR_DPOP_MULTIPLE_PROOFS'])
      const third = await signedRequest()
      const twoTokens = await send(`${url}/items`, {
        headers: {
          authorization: [`DPoP ${third.token}`, `DPoP ${third.token}`],
          dpop: third.proof,
        },
      })
      expect(twoTokens.status).toBe(400)
    } finally {
      await close()
    }
  })
})

describe('outcome events', () => {
  it('reports accepted and rejected requests with stable reasons, over HTTP, without tokens', async () => {
    const events: OutcomeEvent[] = []
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens,
      onOutcome: (event) => {
        events.push(event)
        throw new Error('a broken metrics hook changes nothing')
      },
    })
    const server = createServer(protect(resourceServer, (_req, res) => res.end('ok')))
    const { url, close } = await listen(server)
    try {
      const { token, proof } = await signedRequest('/items')
      const ok = await send(`${url}/items?secret=1`, {
        headers: { Authorization: `DPoP ${token}`, DPoP: proof },
      })
      expect(ok.status).toBe(200)
      const replay = await send(`${url}/items`, {
        headers: { Authorization: `DPoP ${token}`, DPoP: proof },
      })
      expect(replay.status).toBe(401)
      await send(`${url}/items`)
      await send(`${url}/items`, { headers: { Authorization: `Bearer ${token}` } })
      const wrongKey = await generateKeyPair('ES256')
      const other = await createProof(wrongKey, {
        htm: 'GET',
        htu: `${BASE}/items`,
        accessToken: token,
      })
      await send(`${url}/items`, { headers: { Authorization: `DPoP ${token}`, DPoP: other } })
    } finally {
      await close()
    }
    expect(events).toEqual([
      {
        outcome: 'accepted',
        method: 'GET',
        path: '/items',
        tokenType: 'DPoP',
        jkt: key.jkt,
        subject: 'alice',
        clientId: 'client-1',
        nonceRotated: false,
      },
      {
        outcome: 'rejected',
        method: 'GET',
        path: '/items',
        status: 401,
        error: 'invalid_dpop_proof',
        reason: 'ERR_DPOP_REPLAYED',
        claim: 'jti',
        detail: 'replay',
      },
      {
        outcome: 'rejected',
        method: 'GET',
        path: '/items',
        status: 401,
        error: '',
        reason: 'ERR_DPOP_NO_CREDENTIALS',
      },
      {
        outcome: 'rejected',
        method: 'GET',
        path: '/items',
        status: 401,
        error: 'invalid_token',
        reason: 'ERR_DPOP_BEARER_REFUSED',
      },
      {
        outcome: 'rejected',
        method: 'GET',
        path: '/items',
        status: 401,
        error: 'invalid_token',
        reason: 'ERR_DPOP_KEY_BINDING_MISMATCH',
        claim: 'jwk',
        detail: 'jkt mismatch',
      },
    ])
    const serialized = JSON.stringify(events)
    expect(serialized).not.toContain('eyJ')
  })
})
