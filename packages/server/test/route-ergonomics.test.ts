/**
 * What users know from express-oauth2-jwt-bearer and Hono, in every adapter over real HTTP on
 * loopback, with RFC 9068 JWTs from a real JWKS: optional credentials (RS40, RS41, D28), any-of
 * scopes (RS43), claim checks (RS42, D26), typed claims, and the error-handler mode (RS44) in
 * which the application renders rejections itself (problem+json) while the default stays the
 * exact RFC response.
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  checkRouteOptions,
  createResourceServer,
  jwtAccessTokens,
  type OutcomeEvent,
  type ResourceServer,
  type VerifiedIdentity,
} from '@keybound/server'
import { dpop as expressDpop } from '@keybound/server/express'
import { dpop as honoDpop } from '@keybound/server/hono'
import { protect } from '@keybound/server/node'
import { ADAPTERS } from './support/adapters.js'
import {
  RENDERING_FRAMEWORKS,
  startErgonomicApp,
  startRenderingApp,
  type RunningApp,
  type TenantClaims,
} from './support/ergonomic-apps.js'
import { send, type Received } from './support/http.js'
import { startTestIssuer, type MintOptions, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'
const NONCE_SECRET = 'a nonce secret of at least 32 bytes, for the rendering tests'

let issuer: TestIssuer
let key: DPoPKeyPair

beforeAll(async () => {
  ;[issuer, key] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    generateKeyPair('ES256'),
  ])
})

afterAll(async () => {
  await issuer?.close()
})

function accessTokens() {
  return jwtAccessTokens({
    issuer: issuer.issuer,
    audience: issuer.audience,
    jwksUri: issuer.jwksUri,
    jwksOptions: { cooldownDuration: 0 },
  })
}

interface Call {
  scheme?: string
  token?: string
  proof?: string
  headers?: Record<string, string>
}

function call(app: RunningApp, path: string, options: Call = {}): Promise<Received> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.scheme !== undefined && options.token !== undefined)
    headers.Authorization = `${options.scheme} ${options.token}`
  if (options.proof !== undefined) headers.DPoP = options.proof
  return send(`${app.url}${path}`, { headers })
}

function proofFor(path: string, token?: string, nonce?: string): Promise<string> {
  return createProof(key, {
    htm: 'GET',
    htu: `${BASE}${path}`,
    ...(token === undefined ? {} : { accessToken: token }),
    ...(nonce === undefined ? {} : { nonce }),
  })
}

/** A request with a bound token minted with `mint` and a matching proof. */
async function dpopCall(app: RunningApp, path: string, mint: MintOptions = {}) {
  const token = await issuer.mint({ jkt: key.jkt, ...mint })
  return call(app, path, { scheme: 'DPoP', token, proof: await proofFor(path, token) })
}

describe.each(ADAPTERS)('route ergonomics: %s adapter', (adapter) => {
  let app: RunningApp
  const events: OutcomeEvent[] = []

  beforeAll(async () => {
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: accessTokens(),
      algorithms: ['ES256'],
      allowBearer: true,
      onOutcome: (event) => events.push(event),
    })
    app = await startErgonomicApp(adapter, resourceServer)
  })

  afterAll(async () => {
    await app?.close()
  })

  describe('optional credentials (RS40, RS41, D28)', () => {
    it('RS40 — no Authorization and no DPoP header: the handler runs with no identity', async () => {
      const received = await call(app, '/optional')
      expect(received.status).toBe(200)
      expect(received.json()).toEqual({ anonymous: true, subject: null, tenant: null })
      expect(received.headers['www-authenticate']).toBeUndefined()
      expect(events.at(-1)).toEqual({ outcome: 'anonymous', method: 'GET', path: '/optional' })
    })

    it('RS40 — route scopes do not apply to an anonymous request', async () => {
      const received = await call(app, '/optional-scoped')
      expect(received.status).toBe(200)
      expect(received.json()).toMatchObject({ anonymous: true })
    })

    it('RS41 — valid credentials on an optional route give the identity and keep the scopes', async () => {
      const accepted = await dpopCall(app, '/optional', {
        sub: 'carol',
        claims: { tenant: 'acme' },
      })
      expect(accepted.status).toBe(200)
      expect(accepted.json()).toEqual({ anonymous: false, subject: 'carol', tenant: 'acme' })
      const unscoped = await dpopCall(app, '/optional-scoped', { scope: 'write' })
      expect(unscoped.status).toBe(403)
      expect(unscoped.headers['www-authenticate']).toContain('error="insufficient_scope"')
    })

    it('RS41 — a bound token presented as Bearer is still refused (§7.2 downgrade)', async () => {
      const token = await issuer.mint({ jkt: key.jkt })
      const received = await call(app, '/optional', { scheme: 'Bearer', token })
      expect(received.status).toBe(401)
      expect(received.headers['www-authenticate']).toMatch(
        /^Bearer error="invalid_token", error_description="DPoP-bound access token requires the DPoP scheme"/,
      )
    })

    it('RS41 — a proof for another URL, a missing proof, or an invalid token is still refused', async () => {
      const token = await issuer.mint({ jkt: key.jkt })
      const wrongUrl = await call(app, '/optional', {
        scheme: 'DPoP',
        token,
        proof: await proofFor('/elsewhere', token),
      })
      expect(wrongUrl.status).toBe(401)
      expect(wrongUrl.headers['www-authenticate']).toContain('error="invalid_dpop_proof"')
      const noProof = await call(app, '/optional', { scheme: 'DPoP', token })
      expect(noProof.status).toBe(401)
      expect(noProof.headers['www-authenticate']).toContain('error="invalid_dpop_proof"')
      const invalid = await issuer.mint({ jkt: key.jkt, typ: 'JWT' })
      const badToken = await call(app, '/optional', {
        scheme: 'DPoP',
        token: invalid,
        proof: await proofFor('/optional', invalid),
      })
      expect(badToken.status).toBe(401)
      expect(badToken.headers['www-authenticate']).toContain('error="invalid_token"')
    })

    it('D28 — a lone DPoP header, or Authorization of another scheme, is not anonymous: 401', async () => {
      const lone = await call(app, '/optional', { proof: await proofFor('/optional') })
      expect(lone.status).toBe(401)
      const basic = await call(app, '/optional', { headers: { Authorization: 'Basic YTpi' } })
      expect(basic.status).toBe(401)
      expect(basic.headers['www-authenticate']).toBe('Bearer, DPoP algs="ES256"')
    })
    it('D28 — a bound token in the query is judged too: refused as Bearer (RS10)', async () => {
      const token = await issuer.mint({ jkt: key.jkt })
      const received = await send(`${app.url}/optional?access_token=${token}`)
      expect(received.status).toBe(401)
      expect(received.headers['www-authenticate']).toMatch(
        /^Bearer error="invalid_token", error_description="DPoP-bound access token requires the DPoP scheme"/,
      )
    })
  })

  describe('scopes as all-of or any-of (RS43)', () => {
    it('RS43 — scopeMatch any: one of the scopes is enough; none of them is 403 naming all', async () => {
      expect((await dpopCall(app, '/scopes/any', { scope: 'read' })).status).toBe(200)
      expect((await dpopCall(app, '/scopes/any', { scope: 'admin' })).status).toBe(200)
      const neither = await dpopCall(app, '/scopes/any', { scope: 'write' })
      expect(neither.status).toBe(403)
      expect(neither.headers['www-authenticate']).toBe(
        'Bearer, DPoP error="insufficient_scope", error_description="Insufficient scope", scope="admin read", algs="ES256"',
      )
    })

    it('RS43 — the default stays all-of', async () => {
      expect((await dpopCall(app, '/scopes/all', { scope: 'read' })).status).toBe(403)
      expect((await dpopCall(app, '/scopes/all', { scope: 'admin read' })).status).toBe(200)
    })
  })

  describe('claim checks (RS42, D26)', () => {
    const refusal =
      'Bearer, DPoP error="insufficient_scope", error_description="Access token claims do not meet the resource\'s requirements", algs="ES256"'

    it('RS42 — equals: the claim must be exactly the value', async () => {
      const accepted = await dpopCall(app, '/claims/equals', { claims: { tenant: 'acme' } })
      expect(accepted.status).toBe(200)
      expect(accepted.json()).toMatchObject({ tenant: 'acme' })
      for (const claims of [{ tenant: 'other' }, {}, { tenant: ['acme'] }]) {
        const refused = await dpopCall(app, '/claims/equals', { claims })
        expect(refused.status, JSON.stringify(claims)).toBe(403)
        expect(refused.headers['www-authenticate']).toBe(refusal)
        expect(refused.json()).toEqual({
          error: 'insufficient_scope',
          error_description: "Access token claims do not meet the resource's requirements",
        })
      }
    })

    it('RS42 — includes: an array or a space-separated string holding every value', async () => {
      for (const roles of [['viewer', 'editor', 'x'], 'editor viewer']) {
        const accepted = await dpopCall(app, '/claims/includes', { claims: { roles } })
        expect(accepted.status, JSON.stringify(roles)).toBe(200)
      }
      for (const roles of [['editor'], 'editor', 'editorviewer', 42, undefined]) {
        const refused = await dpopCall(app, '/claims/includes', { claims: { roles } })
        expect(refused.status, JSON.stringify(roles)).toBe(403)
        expect(refused.headers['www-authenticate']).toBe(refusal)
      }
    })

    it('RS42 — a custom predicate, sync or async; one that throws refuses (fail closed)', async () => {
      expect((await dpopCall(app, '/claims/check', { claims: { tenant: 'acme' } })).status).toBe(
        200,
      )
      expect((await dpopCall(app, '/claims/check', { claims: { tenant: 'zeta' } })).status).toBe(
        403,
      )
      expect(
        (await dpopCall(app, '/claims/async-check', { claims: { tenant: 'acme' } })).status,
      ).toBe(200)
      expect(
        (await dpopCall(app, '/claims/async-check', { claims: { tenant: 'acm' } })).status,
      ).toBe(403)
      const broken = await dpopCall(app, '/claims/throwing-check', { claims: { tenant: 'acme' } })
      expect(broken.status).toBe(403)
      expect(broken.headers['www-authenticate']).toBe(refusal)
      expect(events.at(-1)).toMatchObject({
        outcome: 'rejected',
        reason: 'ERR_DPOP_CLAIM_CHECK_FAILED',
      })
    })

    it('RS42 — claim checks hold for an accepted Bearer token too', async () => {
      const token = await issuer.mint({ claims: { tenant: 'zeta' } })
      const received = await call(app, '/claims/equals', { scheme: 'Bearer', token })
      expect(received.status).toBe(403)
      expect(received.headers['www-authenticate']).toBe(
        'Bearer error="insufficient_scope", error_description="Access token claims do not meet the resource\'s requirements", DPoP algs="ES256"',
      )
    })
  })
})

describe.each(ADAPTERS)(
  'optional credentials without Bearer tokens: %s adapter (D28)',
  (adapter) => {
    let app: RunningApp

    beforeAll(async () => {
      const resourceServer = createResourceServer({
        publicBaseUrl: BASE,
        accessTokens: accessTokens(),
        algorithms: ['ES256'],
      })
      app = await startErgonomicApp(adapter, resourceServer)
    })

    afterAll(async () => {
      await app?.close()
    })

    it('D28 — a token in a form body is a credential: refused, never let through as anonymous', async () => {
      const token = await issuer.mint({ jkt: key.jkt })
      const received = await send(`${app.url}/optional`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ access_token: token }).toString(),
      })
      expect(received.status).toBe(401)
      expect(received.headers['www-authenticate']).toBe(
        'Bearer error="invalid_token", error_description="Bearer tokens are not accepted", DPoP algs="ES256"',
      )
      const anonymous = await send(`${app.url}/optional`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'note=hello',
      })
      expect(anonymous.status).toBe(200)
      expect(anonymous.json()).toMatchObject({ anonymous: true })
    })
  },
)

describe('typed claims through verifyRequest (RS40)', () => {
  it('RS40 — the identity is typed, and optional only where credentials are optional', async () => {
    const resourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: accessTokens(),
      algorithms: ['ES256'],
    })
    const token = await issuer.mint({ jkt: key.jkt, claims: { tenant: 'acme' } })
    const request = async () => ({
      method: 'GET',
      url: '/items',
      headers: { authorization: `DPoP ${token}`, dpop: await proofFor('/items', token) },
    })
    const required = await resourceServer.verifyRequest<TenantClaims>(await request())
    if (!required.ok) throw new Error('expected acceptance')
    expectTypeOf(required.identity).toEqualTypeOf<VerifiedIdentity<TenantClaims>>()
    expect(required.identity.claims.tenant).toBe('acme')
    const optional = await resourceServer.verifyRequest(await request(), {
      credentialsRequired: false,
      claims: { check: (claims: TenantClaims) => claims.tenant === 'acme' },
    })
    if (!optional.ok) throw new Error('expected acceptance')
    expectTypeOf(optional.identity).toEqualTypeOf<VerifiedIdentity<TenantClaims> | undefined>()
    expect(optional.identity?.claims.tenant).toBe('acme')
    const anonymous = await resourceServer.verifyRequest(
      { method: 'GET', url: '/items', headers: {} },
      {
        credentialsRequired: false,
      },
    )
    expect(anonymous).toEqual({ ok: true, identity: undefined, responseHeaders: {} })
  })
})

describe('route options are checked at start-up, every bad field named (RS42, RS43)', () => {
  const resourceServer = createResourceServer({
    publicBaseUrl: BASE,
    accessTokens: { validate: () => Promise.reject(new Error('unused')) },
  })

  it('RS42 — one error names every bad field by its path, in each adapter', () => {
    const bad = {
      scope: ['read'],
      scopes: ['read', 'bad scope'],
      scopeMatch: 'some',
      credentialsRequired: 'no',
      claims: { equals: { tenant: { nested: true } }, includes: { roles: 'editor' }, check: 1 },
    } as never
    const expected = [
      'scope is not a route option',
      'scopes[1] is not an RFC 6749 scope token',
      "scopeMatch must be 'all' or 'any'",
      'claims.equals.tenant must be a string, a finite number, a boolean or null',
      'claims.includes.roles must be a non-empty array of strings without spaces',
      'claims.check must be a function',
      'credentialsRequired must be a boolean',
    ]
    for (const build of [
      () => checkRouteOptions(bad),
      () => expressDpop(resourceServer, bad),
      () => honoDpop(resourceServer, bad),
      () => protect(resourceServer, () => undefined, bad),
    ]) {
      let message = ''
      try {
        build()
      } catch (error) {
        message = (error as Error).message
      }
      for (const problem of expected) expect(message).toContain(problem)
    }
  })

  it("RS44 — rejections must be 'respond' or 'error', named beside the other problems", () => {
    expect(() =>
      expressDpop(resourceServer, { rejections: 'throw', scopeMatch: 'x' } as never),
    ).toThrow(/scopeMatch must be 'all' or 'any'; rejections must be 'respond' or 'error'/)
  })
})

describe.each(RENDERING_FRAMEWORKS)('error-handler mode (RS44): %s', (framework) => {
  let rendering: RunningApp
  let bare: RunningApp

  beforeAll(async () => {
    const resourceServer: ResourceServer = createResourceServer({
      publicBaseUrl: BASE,
      accessTokens: accessTokens(),
      algorithms: ['ES256'],
      nonces: { secret: NONCE_SECRET },
    })
    ;[rendering, bare] = await Promise.all([
      startRenderingApp(framework, resourceServer, true),
      startRenderingApp(framework, resourceServer, false),
    ])
  })

  afterAll(async () => {
    await Promise.all([rendering?.close(), bare?.close()])
  })

  /** A request with a nonce: a first call learns it from the 401 (RS13). */
  async function withNonce(app: RunningApp, path: string, scope: string): Promise<Received> {
    const token = await issuer.mint({ jkt: key.jkt, scope })
    const first = await call(app, path, {
      scheme: 'DPoP',
      token,
      proof: await proofFor(path, token),
    })
    const nonce = first.headers['dpop-nonce'] as string
    return call(app, path, { scheme: 'DPoP', token, proof: await proofFor(path, token, nonce) })
  }

  it('RS44 — no credentials: the application renders problem+json with the challenge', async () => {
    const received = await call(rendering, '/error/read')
    expect(received.status).toBe(401)
    expect(received.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(received.headers['www-authenticate']).toBe('DPoP algs="ES256"')
    expect(received.json()).toEqual({
      type: 'about:blank',
      title: 'Access token required',
      status: 401,
      oauthError: null,
      reason: 'ERR_DPOP_NO_CREDENTIALS',
    })
  })

  it('RS44 — a nonce challenge keeps DPoP-Nonce and Cache-Control', async () => {
    const token = await issuer.mint({ jkt: key.jkt })
    const received = await call(rendering, '/error/read', {
      scheme: 'DPoP',
      token,
      proof: await proofFor('/error/read', token),
    })
    expect(received.status).toBe(401)
    expect(received.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(received.headers['dpop-nonce']).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/)
    expect(received.headers['cache-control']).toBe('no-store')
    expect(received.headers['www-authenticate']).toContain('error="use_dpop_nonce"')
    expect(received.json()).toMatchObject({ status: 401, oauthError: 'use_dpop_nonce' })
  })

  it('RS44 — insufficient scope renders 403, and an accepted request still reaches the handler', async () => {
    const refused = await withNonce(rendering, '/error/admin', 'read')
    expect(refused.status).toBe(403)
    expect(refused.headers['www-authenticate']).toBe(
      'DPoP error="insufficient_scope", error_description="Insufficient scope", scope="admin", algs="ES256"',
    )
    expect(refused.json()).toMatchObject({
      title: 'Insufficient scope',
      status: 403,
      oauthError: 'insufficient_scope',
      reason: 'ERR_DPOP_INSUFFICIENT_SCOPE',
    })
    const accepted = await withNonce(rendering, '/error/read', 'read')
    expect(accepted.status).toBe(200)
    expect(accepted.body).toBe('ok')
  })

  it("RS44 — the framework's own error handler still sends the status and the challenge", async () => {
    const received = await call(bare, '/error/read')
    expect(received.status).toBe(401)
    expect(received.headers['www-authenticate']).toBe('DPoP algs="ES256"')
  })

  it('RS44 — the default mode is unchanged: the exact RFC response, no error handler involved', async () => {
    const none = await call(rendering, '/default/read')
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toBe('DPoP algs="ES256"')
    expect(none.headers['content-type']).toBeUndefined()
    expect(none.body).toBe('')
    const refused = await withNonce(rendering, '/default/read', 'write')
    expect(refused.status).toBe(403)
    expect(refused.headers['content-type']).toMatch(/^application\/json/)
    expect(refused.json()).toEqual({
      error: 'insufficient_scope',
      error_description: 'Insufficient scope',
    })
  })
})
