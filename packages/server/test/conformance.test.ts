/**
 * One conformance suite, run against every adapter (Express, Fastify, Hono, node:http) and both
 * token kinds (RFC 9068 JWT via a real JWKS, RFC 7662 introspection), over real HTTP on
 * loopback. Covers RS1–RS18 and the RS rows of the error table (E8–E16 in
 * docs/requirements.md), with exact
 * `WWW-Authenticate` values (RFC 9449 Figs. 15–19, 24, with our `algs`).
 *
 * The same suite runs once more per token profile (RS19): Keycloak, Auth0, Okta, Entra ID, WSO2
 * and Spring Authorization Server, each against its fixture issuer (./support/
 * identity-providers.ts). Those providers cannot run here; the fixtures reproduce the token and
 * introspection shapes their public docs and source define (by fixture, not a live peer; sources
 * in docs/identity-providers.md). Introspection runs for the providers that have it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNonceSource, createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { createResourceServer, type ReplayStore, type ResourceServer } from '@keybound/server'
import {
  ADAPTERS,
  startAdapter,
  type AdapterName,
  type RunningAdapter,
} from './support/adapters.js'
import { headerLines, send, type Received } from './support/http.js'
import { startTestIntrospection, type TestIntrospection } from '@keybound/test-kit/introspection'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import {
  providerTokenFactory,
  tokenFactory,
  TOKEN_KINDS,
  type TokenFactory,
  type TokenKind,
} from './support/tokens.js'
import {
  INTROSPECTING_PROVIDERS,
  PROVIDERS,
  startProviderFixture,
  type ProviderFixture,
} from '@keybound/test-kit/identity-providers'

const BASE = 'https://rs.example.test'
const ALGS = 'ES256 PS256'
const NONCE_SECRET = 'a nonce secret of at least 32 bytes, shared by instances'
const MULTIPLE = 'Multiple methods used to include access token'

let issuer: TestIssuer
let introspection: TestIntrospection
let key: DPoPKeyPair
let otherKey: DPoPKeyPair
const providers = new Map<string, ProviderFixture>()

beforeAll(async () => {
  ;[issuer, introspection, key, otherKey] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    startTestIntrospection(),
    generateKeyPair('ES256'),
    generateKeyPair('ES256'),
  ])
  for (const fixture of await Promise.all(PROVIDERS.map(startProviderFixture)))
    providers.set(fixture.profile, fixture)
})

afterAll(async () => {
  await Promise.all([
    issuer?.close(),
    introspection?.close(),
    ...[...providers.values()].map((fixture) => fixture.close()),
  ])
})

/** A replay store whose backend is down: a real (if useless) `ReplayStore`. */
const unreachableStore: ReplayStore = {
  checkAndRecord() {
    throw new Error('connect ECONNREFUSED 127.0.0.1:6379')
  },
}

const combinations = ADAPTERS.flatMap((adapter) => [
  ...TOKEN_KINDS.map((kind) => ({ adapter, kind, profile: 'rfc9068' })),
  ...PROVIDERS.map((profile) => ({ adapter, kind: 'jwt' as TokenKind, profile })),
  ...INTROSPECTING_PROVIDERS.map((profile) => ({
    adapter,
    kind: 'introspection' as TokenKind,
    profile,
  })),
])

function tokensFor(kind: TokenKind, profile: string): TokenFactory {
  if (profile === 'rfc9068') return tokenFactory(kind, issuer, introspection)
  return providerTokenFactory(kind, providers.get(profile)!, introspection)
}

describe.each(combinations)(
  'RFC 9449 resource server: $adapter adapter, $kind tokens, $profile profile (RS19)',
  ({ adapter, kind, profile }) => {
    let running: RunningAdapter
    let tokens: TokenFactory
    let clockOffset = 0

    beforeAll(async () => {
      tokens = tokensFor(kind, profile)
      const accessTokens = tokens.validator()
      const common = { publicBaseUrl: BASE, accessTokens, algorithms: ['ES256', 'PS256'] }
      const servers: Record<string, ResourceServer> = {
        dpop: createResourceServer(common),
        bearer: createResourceServer({ ...common, allowBearer: true }),
        nonce: createResourceServer({
          ...common,
          nonces: { secret: NONCE_SECRET, stepSeconds: 60 },
          now: () => Date.now() + clockOffset,
        }),
        proxy: createResourceServer({ ...common, trustProxy: true }),
        broken: createResourceServer({ ...common, replayStore: unreachableStore }),
        fig16: createResourceServer({ ...common, algorithms: ['ES256'] }),
      }
      running = await startAdapter(adapter as AdapterName, servers)
    })

    afterAll(async () => {
      await running?.close()
    })

    interface Call {
      method?: string
      scheme?: string | undefined
      token?: string
      proof?: string | string[] | undefined
      headers?: Record<string, string | string[]>
      body?: string
      query?: string
    }

    function call(path: string, options: Call = {}): Promise<Received> {
      const headers: Record<string, string | string[]> = { ...options.headers }
      if (options.token !== undefined && options.scheme !== undefined)
        headers.Authorization = `${options.scheme} ${options.token}`
      if (options.proof !== undefined) headers.DPoP = options.proof
      return send(`${running.url}${path}${options.query ?? ''}`, {
        method: options.method ?? 'GET',
        headers,
        body: options.body,
      })
    }

    function proofFor(
      path: string,
      token: string | undefined,
      extra: {
        method?: string
        key?: DPoPKeyPair
        nonce?: string
        iat?: number
        htu?: string
      } = {},
    ): Promise<string> {
      return createProof(extra.key ?? key, {
        htm: extra.method ?? 'GET',
        htu: extra.htu ?? `${BASE}${path}`,
        ...(token === undefined ? {} : { accessToken: token }),
        ...(extra.nonce === undefined ? {} : { nonce: extra.nonce }),
        ...(extra.iat === undefined ? {} : { iat: extra.iat }),
      })
    }

    /** A bound token and a matching proof for one request. */
    async function dpopCall(
      path: string,
      options: Call & { scope?: string } = {},
    ): Promise<Received> {
      const token = await tokens.issue({
        jkt: key.jkt,
        ...(options.scope ? { scope: options.scope } : {}),
      })
      const proof = await proofFor(path, token, { method: options.method ?? 'GET' })
      return call(path, { scheme: 'DPoP', token, proof, ...options })
    }

    function challenge(received: Received): string | undefined {
      const lines = headerLines(received, 'www-authenticate')
      expect(lines.length).toBeLessThanOrEqual(1)
      return lines[0]
    }

    function expectRejected(
      received: Received,
      status: number,
      wwwAuthenticate: string,
      error?: string,
    ): void {
      expect(received.status).toBe(status)
      expect(challenge(received)).toBe(wwwAuthenticate)
      if (error !== undefined) expect((received.json() as { error: string }).error).toBe(error)
    }

    const invalidProof = (description: string, algs = ALGS) =>
      `DPoP error="invalid_dpop_proof", error_description="${description}", algs="${algs}"`

    describe('accepted requests (RS1, RS6, A2)', () => {
      it('accepts a bound token with a matching proof and hands the identity to the route (RS1)', async () => {
        const received = await dpopCall('/dpop/resource')
        expect(received.status).toBe(200)
        expect(challenge(received)).toBeUndefined()
        expect(received.json()).toMatchObject({
          identity: {
            subject: 'alice',
            ...(tokens.clientId === undefined ? {} : { clientId: tokens.clientId }),
            // Providers add their own scopes (openid, profile, email) beside the ones asked for.
            scope:
              profile === 'rfc9068' ? ['read', 'write'] : expect.arrayContaining(['read', 'write']),
            jkt: key.jkt,
            tokenType: 'DPoP',
          },
        })
      })

      it('treats the scheme case-insensitively and allows several spaces before the token (RS6)', async () => {
        for (const scheme of ['dpop', 'DPOP', 'DPoP ']) {
          expect((await dpopCall('/dpop/resource', { scheme })).status).toBe(200)
        }
      })

      it('accepts the DPoP header under any field-name case (A2)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/dpop/resource', token)
        const received = await call('/dpop/resource', {
          scheme: 'DPoP',
          token,
          headers: { DPOP: proof },
        })
        expect(received.status).toBe(200)
      })

      it('ignores the query when matching htu', async () => {
        const received = await dpopCall('/dpop/resource', { query: '?page=2&sort=asc' })
        expect(received.status).toBe(200)
      })
    })

    describe('no credentials (RS7, RS8, RS18, Figs. 15 and 17)', () => {
      it('answers 401 with exactly the Fig. 15 challenge and no error information', async () => {
        const received = await call('/dpop/resource')
        expectRejected(received, 401, `DPoP algs="${ALGS}"`)
        expect(received.body).toBe('')
      })

      it('offers both schemes without an error when Bearer is allowed (Fig. 17)', async () => {
        const received = await call('/bearer/resource')
        expectRejected(received, 401, `Bearer, DPoP algs="${ALGS}"`)
        expect(received.body).toBe('')
      })

      it('treats an unsupported scheme as no credentials', async () => {
        const received = await call('/dpop/resource', {
          headers: { Authorization: 'Basic cnM6c2VjcmV0' },
        })
        expectRejected(received, 401, `DPoP algs="${ALGS}"`)
      })

      it('never reads Proxy-Authorization (RS8)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/dpop/resource', token)
        const received = await call('/dpop/resource', {
          proof,
          headers: { 'Proxy-Authorization': `DPoP ${token}` },
        })
        expectRejected(received, 401, `DPoP algs="${ALGS}"`)
        expect(received.headers['proxy-authenticate']).toBeUndefined()
      })
    })

    describe('malformed credentials (RS6)', () => {
      it('refuses a tab between scheme and token', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const received = await call('/dpop/resource', {
          headers: {
            Authorization: `DPoP\t${token}`,
            DPoP: await proofFor('/dpop/resource', token),
          },
        })
        expectRejected(
          received,
          400,
          `DPoP error="invalid_request", error_description="Malformed access token credentials", algs="${ALGS}"`,
          'invalid_request',
        )
      })

      it('refuses a token with characters outside token68', async () => {
        const received = await call('/dpop/resource', {
          headers: { Authorization: 'DPoP abc def' },
        })
        expect(received.status).toBe(400)
        expect(challenge(received)).toContain('error="invalid_request"')
      })
    })

    describe('proof checks (RS2–RS5, RS12, B1, B15)', () => {
      it('refuses a proof from another key than cnf.jkt with exactly Fig. 16 (RS2)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/fig16/resource', token, { key: otherKey })
        const received = await call('/fig16/resource', { scheme: 'DPoP', token, proof })
        expectRejected(
          received,
          401,
          'DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"',
          'invalid_token',
        )
      })

      it('refuses a proof without ath, like the token-endpoint proof of Fig. 2 (RS3)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/dpop/resource', undefined)
        const received = await call('/dpop/resource', { scheme: 'DPoP', token, proof })
        expectRejected(
          received,
          401,
          invalidProof('Invalid DPoP proof claim (ath)'),
          'invalid_dpop_proof',
        )
      })

      it('refuses a proof whose ath is the hash of another token (B12)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/dpop/resource', await tokens.issue({ jkt: key.jkt }))
        const received = await call('/dpop/resource', { scheme: 'DPoP', token, proof })
        expectRejected(received, 401, invalidProof('DPoP proof ath mismatch'), 'invalid_dpop_proof')
      })

      it('refuses a DPoP token without a DPoP header (RS4)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const received = await call('/dpop/resource', { scheme: 'DPoP', token })
        expectRejected(received, 401, invalidProof('Missing DPoP proof'), 'invalid_dpop_proof')
      })

      it('refuses two DPoP field lines, even if both are valid (B1)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proofs = [
          await proofFor('/dpop/resource', token),
          await proofFor('/dpop/resource', token),
        ]
        const received = await call('/dpop/resource', { scheme: 'DPoP', token, proof: proofs })
        expectRejected(received, 401, invalidProof('Multiple DPoP proofs'), 'invalid_dpop_proof')
      })

      it('grants nothing and runs no handler when any check fails on a POST (RS5)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const path = '/dpop/resource'
        const wrongMethod = await call(path, {
          method: 'POST',
          scheme: 'DPoP',
          token,
          proof: await proofFor(path, token),
        })
        expectRejected(wrongMethod, 401, invalidProof('DPoP proof htm mismatch'))
        const wrongPath = await call(path, {
          method: 'POST',
          scheme: 'DPoP',
          token,
          proof: await proofFor('/dpop/other', token, { method: 'POST' }),
        })
        expectRejected(wrongPath, 401, invalidProof('DPoP proof htu mismatch'))
        const good = await proofFor(path, token, { method: 'POST' })
        const flipped = `${good.slice(0, -2)}${good.endsWith('AA') ? 'BA' : 'AA'}`
        const badSignature = await call(path, {
          method: 'POST',
          scheme: 'DPoP',
          token,
          proof: flipped,
        })
        expectRejected(badSignature, 401, invalidProof('Invalid DPoP proof signature'))
        const stale = await call(path, {
          method: 'POST',
          scheme: 'DPoP',
          token,
          proof: await proofFor(path, token, {
            method: 'POST',
            iat: Math.floor(Date.now() / 1000) - 3600,
          }),
        })
        expectRejected(stale, 401, invalidProof('DPoP proof iat outside the acceptance window'))
        expect(running.effects.get('dpop') ?? 0).toBe(0)
      })

      it('accepts a proof once and refuses its replay, running the handler once (B15, RS12)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/dpop/resource', token, { method: 'POST' })
        const before = running.effects.get('dpop') ?? 0
        const first = await call('/dpop/resource', { method: 'POST', scheme: 'DPoP', token, proof })
        const replay = await call('/dpop/resource', {
          method: 'POST',
          scheme: 'DPoP',
          token,
          proof,
        })
        expect(first.status).toBe(200)
        expectRejected(replay, 401, invalidProof('DPoP proof already used'), 'invalid_dpop_proof')
        expect(running.effects.get('dpop')).toBe(before + 1)
      })
    })

    describe('access-token checks (RS16, RS17)', () => {
      it('refuses an invalid access token with invalid_token (RS16 / inactive)', async () => {
        const token = await tokens.issueInvalid({ jkt: key.jkt })
        const received = await call('/dpop/resource', {
          scheme: 'DPoP',
          token,
          proof: await proofFor('/dpop/resource', token),
        })
        expectRejected(
          received,
          401,
          `DPoP error="invalid_token", error_description="Invalid token", algs="${ALGS}"`,
          'invalid_token',
        )
      })

      it('refuses an unbound token presented with the DPoP scheme (RS17)', async () => {
        const token = await tokens.issue()
        const received = await call('/dpop/resource', {
          scheme: 'DPoP',
          token,
          proof: await proofFor('/dpop/resource', token),
        })
        expectRejected(
          received,
          401,
          `DPoP error="invalid_token", error_description="Access token is not DPoP-bound", algs="${ALGS}"`,
          'invalid_token',
        )
      })
    })

    describe('bound token as Bearer (RS10, Fig. 18)', () => {
      const refused = `Bearer error="invalid_token", error_description="Bearer tokens are not accepted", DPoP algs="${ALGS}"`
      const bound = `Bearer error="invalid_token", error_description="DPoP-bound access token requires the DPoP scheme", DPoP algs="${ALGS}"`

      it('refuses a bound token in Authorization: Bearer, with or without a DPoP header', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        expectRejected(
          await call('/dpop/resource', { scheme: 'Bearer', token }),
          401,
          refused,
          'invalid_token',
        )
        const withProof = await call('/dpop/resource', {
          scheme: 'Bearer',
          token,
          proof: await proofFor('/dpop/resource', token),
        })
        expectRejected(withProof, 401, refused, 'invalid_token')
        expectRejected(
          await call('/bearer/resource', { scheme: 'Bearer', token }),
          401,
          bound,
          'invalid_token',
        )
        const bearerWithProof = await call('/bearer/resource', {
          scheme: 'Bearer',
          token,
          proof: await proofFor('/bearer/resource', token),
        })
        expectRejected(bearerWithProof, 401, bound, 'invalid_token')
      })

      it('refuses a bound token in the access_token query parameter', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const query = `?access_token=${encodeURIComponent(token)}`
        expectRejected(await call('/dpop/resource', { query }), 401, refused)
        expectRejected(await call('/bearer/resource', { query }), 401, bound)
      })

      it('refuses a bound token in a form body and runs no handler', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const form = {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ access_token: token, item: 'x' }).toString(),
        }
        // Without Bearer, a form token alone is refused whatever it is: the adapters that read
        // bodies themselves (Hono, node:http) answer without reading it, as for no credentials.
        const readsItself = adapter === 'hono' || adapter === 'node'
        expectRejected(
          await call('/dpop/resource', form),
          401,
          readsItself ? `DPoP algs="${ALGS}"` : refused,
        )
        expectRejected(await call('/bearer/resource', form), 401, bound)
        expect(running.effects.get('bearer') ?? 0).toBe(0)
      })

      it('answers an invalid Bearer token exactly as Fig. 18', async () => {
        const received = await call('/bearer/resource', {
          headers: { Authorization: 'Bearer INVALID_TOKEN' },
        })
        expectRejected(
          received,
          401,
          `Bearer error="invalid_token", error_description="Invalid token", DPoP algs="${ALGS}"`,
          'invalid_token',
        )
      })

      it('accepts an unbound Bearer token only where Bearer is allowed', async () => {
        const token = await tokens.issue()
        const allowed = await call('/bearer/resource', { scheme: 'Bearer', token })
        expect(allowed.status).toBe(200)
        expect(allowed.json()).toMatchObject({
          identity: { tokenType: 'Bearer', jkt: '', subject: 'alice' },
        })
        expectRejected(await call('/dpop/resource', { scheme: 'Bearer', token }), 401, refused)
      })
    })

    describe('two methods at once (RS11, Fig. 19)', () => {
      const fig19 = `Bearer error="invalid_request", error_description="${MULTIPLE}", DPoP algs="${ALGS}", error="invalid_request", error_description="${MULTIPLE}"`

      it('answers two Authorization fields (Bearer + DPoP) with 400 and exactly Fig. 19', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const received = await call('/dpop/resource', {
          headers: { Authorization: [`Bearer ${token}`, `DPoP ${token}`] },
          proof: await proofFor('/dpop/resource', token),
        })
        expectRejected(received, 400, fig19, 'invalid_request')
      })

      it('answers a DPoP token plus an access_token query parameter with 400', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const received = await dpopCall('/dpop/resource', {
          query: `?access_token=${encodeURIComponent(token)}`,
        })
        expectRejected(received, 400, fig19, 'invalid_request')
      })
    })

    describe('scopes (RFC 6750 §3.1)', () => {
      it('answers 403 insufficient_scope with the scopes needed', async () => {
        const received = await dpopCall('/dpop/scoped', { scope: 'read' })
        expectRejected(
          received,
          403,
          `DPoP error="insufficient_scope", error_description="Insufficient scope", scope="read write", algs="${ALGS}"`,
          'insufficient_scope',
        )
      })

      it('accepts a token with every scope the route needs', async () => {
        expect((await dpopCall('/dpop/scoped', { scope: 'write read admin' })).status).toBe(200)
      })
    })

    describe('resource-server nonces (RS13, RS14, Fig. 24)', () => {
      const useNonce = `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="${ALGS}"`
      const path = '/nonce/resource'

      async function nonceCall(token: string, nonce?: string): Promise<Received> {
        return call(path, {
          scheme: 'DPoP',
          token,
          proof: await proofFor(path, token, nonce === undefined ? {} : { nonce }),
        })
      }

      function expectNonceChallenge(received: Received): string {
        expectRejected(received, 401, useNonce, 'use_dpop_nonce')
        const nonces = headerLines(received, 'dpop-nonce')
        expect(nonces).toHaveLength(1)
        expect(nonces[0]).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/)
        expect(received.headers['cache-control']).toBe('no-store')
        return nonces[0]!
      }

      it('asks for a nonce, accepts it, and asks again when it is left out', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const nonce = expectNonceChallenge(await nonceCall(token))
        const accepted = await nonceCall(token, nonce)
        expect(accepted.status).toBe(200)
        expect(accepted.headers['dpop-nonce']).toBeUndefined()
        // F5: the same nonce serves several proofs (distinct jti) while it is current.
        expect((await nonceCall(token, nonce)).status).toBe(200)
        expectNonceChallenge(await nonceCall(token))
      })

      it('refuses a mismatched nonce and an authorization-server nonce with use_dpop_nonce', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const nonce = expectNonceChallenge(await nonceCall(token))
        const altered = `${nonce.slice(0, -1)}${nonce.endsWith('A') ? 'B' : 'A'}`
        expectNonceChallenge(await nonceCall(token, altered))
        const asNonce = await createNonceSource({
          secret: NONCE_SECRET,
          purpose: 'as',
          stepSeconds: 60,
        }).issueNonce()
        expectNonceChallenge(await nonceCall(token, asNonce))
      })

      it('rotates a nonce from the previous step in a 200 response, uncacheable (RS14)', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const nonce = expectNonceChallenge(await nonceCall(token))
        clockOffset = 60_000
        try {
          const rotated = await nonceCall(token, nonce)
          expect(rotated.status).toBe(200)
          const fresh = headerLines(rotated, 'dpop-nonce')
          expect(fresh).toHaveLength(1)
          expect(fresh[0]).not.toBe(nonce)
          expect(rotated.headers['cache-control']).toBe('no-store')
          const next = await nonceCall(token, fresh[0])
          expect(next.status).toBe(200)
          expect(next.headers['dpop-nonce']).toBeUndefined()
        } finally {
          clockOffset = 0
        }
      })
    })

    describe('CORS (RS9)', () => {
      it('exposes WWW-Authenticate and DPoP-Nonce to browser clients, on rejections and on success', async () => {
        const origin = { Origin: 'https://app.example.test' }
        const exposed = (received: Received) =>
          String(received.headers['access-control-expose-headers'])
            .split(',')
            .map((name) => name.trim().toLowerCase())
        const rejected = await call('/nonce/resource', { headers: origin })
        expect(exposed(rejected)).toEqual(
          expect.arrayContaining(['www-authenticate', 'dpop-nonce']),
        )
        const accepted = await dpopCall('/dpop/resource', { headers: origin })
        expect(accepted.status).toBe(200)
        expect(exposed(accepted)).toEqual(
          expect.arrayContaining(['www-authenticate', 'dpop-nonce']),
        )
      })
    })

    describe('expected htu from the public base URL (B9, B16)', () => {
      const spoofed = {
        Host: 'evil.example',
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'https',
      }

      it('never takes the host from Host or X-Forwarded-Host by default', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/dpop/resource', token, {
          htu: 'https://evil.example/dpop/resource',
        })
        const received = await call('/dpop/resource', {
          scheme: 'DPoP',
          token,
          proof,
          headers: spoofed,
        })
        expectRejected(received, 401, invalidProof('DPoP proof htu mismatch'))
        // The configured URL still works whatever Host says.
        expect((await dpopCall('/dpop/resource', { headers: spoofed })).status).toBe(200)
      })

      it('follows X-Forwarded-Proto / X-Forwarded-Host only with trustProxy', async () => {
        const forwarded = { 'X-Forwarded-Host': 'api.other.test', 'X-Forwarded-Proto': 'https' }
        const token = await tokens.issue({ jkt: key.jkt })
        const proof = await proofFor('/proxy/resource', token, {
          htu: 'https://api.other.test/proxy/resource',
        })
        expect(
          (await call('/proxy/resource', { scheme: 'DPoP', token, proof, headers: forwarded }))
            .status,
        ).toBe(200)
        const configured = await proofFor('/proxy/resource', token)
        const received = await call('/proxy/resource', {
          scheme: 'DPoP',
          token,
          proof: configured,
          headers: forwarded,
        })
        expectRejected(received, 401, invalidProof('DPoP proof htu mismatch'))
      })
    })

    describe('dependencies that cannot answer', () => {
      it('answers 503 temporarily_unavailable when the replay store throws, and runs no handler', async () => {
        const received = await dpopCall('/broken/resource', { method: 'POST' })
        expect(received.status).toBe(503)
        expect(received.json()).toEqual({
          error: 'temporarily_unavailable',
          error_description: 'Try again later',
        })
        expect(received.headers['cache-control']).toBe('no-store')
        expect(running.effects.get('broken') ?? 0).toBe(0)
      })
    })

    describe('size limits under abuse', () => {
      it('refuses a DPoP header over 8 KiB before parsing it, and runs no handler', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const path = '/dpop/resource'
        const huge = await createProof(key, {
          htm: 'POST',
          htu: `${BASE}${path}`,
          accessToken: token,
          claims: { padding: 'x'.repeat(9 * 1024) },
        })
        const before = running.effects.get('dpop') ?? 0
        const received = await call(path, { method: 'POST', scheme: 'DPoP', token, proof: huge })
        expect(received.status).toBe(401)
        expect(received.headers['www-authenticate']).toMatch(/^DPoP error="invalid_dpop_proof"/)
        expect(running.effects.get('dpop') ?? 0).toBe(before)
      })

      it('answers 431 to request headers over 16 KiB, and runs no handler', async () => {
        const token = await tokens.issue({ jkt: key.jkt })
        const path = '/dpop/resource'
        const proof = await proofFor(path, token, { method: 'POST' })
        const before = running.effects.get('dpop') ?? 0
        const received = await call(path, {
          method: 'POST',
          scheme: 'DPoP',
          token,
          proof,
          headers: { 'X-Filler': 'y'.repeat(20 * 1024) },
        })
        expect(received.status).toBe(431)
        expect(running.effects.get('dpop') ?? 0).toBe(before)
      })
    })

    if ((kind as TokenKind) === 'introspection') {
      it('introspects with client authentication and never sends a DPoP proof (RS15)', async () => {
        const from = introspection.calls.length
        expect((await dpopCall('/dpop/resource')).status).toBe(200)
        const calls = introspection.calls.slice(from)
        expect(calls.length).toBeGreaterThan(0)
        expect(calls.every((made) => made.authenticated && !made.dpopHeaderSent)).toBe(true)
      })
    }
  },
)
