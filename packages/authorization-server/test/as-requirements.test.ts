/**
 * RFC 9449 authorization-server requirements AS1–AS18 (docs/requirements.md) and the AS rows
 * of the error table (E1–E7), each over real HTTP, once on SQLite and once on PostgreSQL.
 */
import { calculateJwkThumbprint } from '@keybound/core'
import * as jose from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lintConfig, resolveConfig } from '../src/index.js'
import {
  basic,
  clientSigningKey,
  codeForm,
  codeFromPushed,
  DATABASES,
  decodeJwt,
  Dpop,
  fetchNonce,
  getCode,
  headerValues,
  postForm,
  proofClaims,
  pushRequest,
  rawJwk,
  rawPost,
  REDIRECT,
  signRaw,
  startServer,
  type TestServer,
} from './support.js'

const NQCHAR = /^[\x21\x23-\x5B\x5D-\x7E]+$/

describe.each(DATABASES)('RFC 9449 authorization server on %s', (kind) => {
  let t: TestServer
  let lax: TestServer // nonces off, DPoP optional: for the iat window and dpop_bound_access_tokens
  const tokenUrl = () => t.url('/token')
  const parUrl = () => t.url('/par')

  beforeAll(async () => {
    ;[t, lax] = await Promise.all([
      startServer(kind),
      startServer(kind, {
        dpop: { required: false, nonce: { required: false }, algorithms: ['ES256', 'EdDSA'] },
      }),
    ])
  })
  afterAll(async () => {
    await Promise.all([t?.close(), lax?.close()])
  })

  async function publicTokens(dpop: Dpop, clientId = 'public-app') {
    const { code, verifier } = await getCode(t.issuer, clientId)
    const answer = await dpop.post(tokenUrl(), codeForm(clientId, code, verifier))
    expect(answer.status, answer.text).toBe(200)
    return answer.body
  }

  it('AS1 — every grant with a valid proof gets a DPoP-bound token', async () => {
    const dpop = await Dpop.create()
    const cc = await dpop.post(tokenUrl(), { grant_type: 'client_credentials' }, basic('service'))
    expect(cc.status, cc.text).toBe(200)
    const code = await publicTokens(dpop)
    const refreshed = await dpop.post(tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: 'public-app',
      refresh_token: code.refresh_token,
    })
    expect(refreshed.status, refreshed.text).toBe(200)
    for (const body of [cc.body, code, refreshed.body]) {
      expect(body.token_type).toBe('DPoP')
      expect(decodeJwt(body.access_token).payload.cnf).toEqual({ jkt: dpop.jkt })
    }
  })

  it('AS2 — an invalid proof at the token endpoint gets 400 invalid_dpop_proof and no token', async () => {
    const url = tokenUrl()
    const nonce = await fetchNonce(url)
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: rawJwk }
    const valid = await signRaw(header, proofClaims(url, nonce))
    const flipped = `${valid.slice(0, -6)}${valid.slice(-6, -5) === 'A' ? 'B' : 'A'}${valid.slice(-5)}`
    const { jti: _jti, ...noJti } = proofClaims(url, nonce)
    const bad: Record<string, string | string[]> = {
      'typ JWT': await signRaw({ ...header, typ: 'JWT' }, proofClaims(url, nonce)),
      'typ missing': await signRaw({ alg: 'ES256', jwk: rawJwk }, proofClaims(url, nonce)),
      'alg none': `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(proofClaims(url, nonce))).toString('base64url')}.`,
      'alg HS256': await signRaw({ ...header, alg: 'HS256' }, proofClaims(url, nonce)),
      'jwk with private key': await signRaw(
        { ...header, jwk: { ...rawJwk, d: 'AAAA' } },
        proofClaims(url, nonce),
      ),
      'jwk missing': await signRaw({ typ: 'dpop+jwt', alg: 'ES256' }, proofClaims(url, nonce)),
      'jti missing': await signRaw(header, noJti),
      'htm GET': await signRaw(header, { ...proofClaims(url, nonce), htm: 'GET' }),
      'htu of another endpoint': await signRaw(header, {
        ...proofClaims(url, nonce),
        htu: parUrl(),
      }),
      'signature flipped': flipped,
      'not a JWT': 'not-a-jwt',
      'two segments': valid.split('.').slice(0, 2).join('.'),
      'two DPoP headers': [
        await signRaw(header, proofClaims(url, nonce)),
        await signRaw(header, proofClaims(url, nonce)),
      ],
      'two proofs in one field': `${await signRaw(header, proofClaims(url, nonce))}, ${await signRaw(header, proofClaims(url, nonce))}`,
    }
    for (const [name, proof] of Object.entries(bad)) {
      const lines: [string, string][] = [['authorization', basic('service').authorization!]]
      for (const value of Array.isArray(proof) ? proof : [proof]) lines.push(['DPoP', value])
      const answer = await rawPost(url, 'grant_type=client_credentials', lines)
      expect([answer.status, answer.body?.error, name]).toEqual([400, 'invalid_dpop_proof', name])
      expect(answer.body.access_token).toBeUndefined()
      expect(headerValues(answer.rawHeaders, 'cache-control')).toEqual(['no-store'])
    }
    // The same hand-made proof, valid, is accepted: the failures above are the defects.
    const ok = await postForm(
      url,
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: valid },
    )
    expect(ok.status, ok.text).toBe(200)
  })

  it('AS3 — the token response says token_type DPoP', async () => {
    const dpop = await Dpop.create()
    const answer = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials', scope: 'read' },
      basic('service'),
    )
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ token_type: 'DPoP', expires_in: 300, scope: 'read' })
  })

  it('AS4 — a public client refresh token is bound to its DPoP key', async () => {
    const owner = await Dpop.create()
    const attacker = await Dpop.create()
    const tokens = await publicTokens(owner)
    const form = {
      grant_type: 'refresh_token',
      client_id: 'public-app',
      refresh_token: tokens.refresh_token,
    }
    const stolen = await attacker.post(tokenUrl(), form)
    expect([stolen.status, stolen.body.error]).toEqual([400, 'invalid_grant'])
    const noProof = await postForm(tokenUrl(), form)
    expect(noProof.status).toBe(400)
    expect(noProof.body.access_token).toBeUndefined()
    const same = await owner.post(tokenUrl(), form)
    expect(same.status, same.text).toBe(200)
    expect(decodeJwt(same.body.access_token).payload.cnf.jkt).toBe(owner.jkt)
    const next = await attacker.post(tokenUrl(), {
      ...form,
      refresh_token: same.body.refresh_token,
    })
    expect([next.status, next.body.error]).toEqual([400, 'invalid_grant'])
  })

  it('AS5 — a Bearer policy still binds the public client refresh token', async () => {
    const owner = await Dpop.create()
    const tokens = await publicTokens(owner, 'bearer-app')
    expect(tokens.token_type).toBe('Bearer')
    expect(decodeJwt(tokens.access_token).payload.cnf).toBeUndefined()
    const other = await Dpop.create()
    const form = {
      grant_type: 'refresh_token',
      client_id: 'bearer-app',
      refresh_token: tokens.refresh_token,
    }
    expect((await other.post(tokenUrl(), form)).status).toBe(400)
    const refreshed = await owner.post(tokenUrl(), form)
    expect([refreshed.status, refreshed.body.token_type]).toEqual([200, 'Bearer'])
  })

  it('AS6 — a confidential client may refresh with a new key', async () => {
    const first = await Dpop.create()
    const { code, verifier } = await getCode(t.issuer, 'confidential-app')
    const tokens = await first.post(
      tokenUrl(),
      codeForm('confidential-app', code, verifier),
      basic('confidential-app'),
    )
    expect(tokens.status, tokens.text).toBe(200)
    const second = await Dpop.create()
    const refreshed = await second.post(
      tokenUrl(),
      { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token },
      basic('confidential-app'),
    )
    expect(refreshed.status, refreshed.text).toBe(200)
    expect(decodeJwt(refreshed.body.access_token).payload.cnf.jkt).toBe(second.jkt)
  })

  it('AS7 — metadata lists dpop_signing_alg_values_supported and proofs are held to it', async () => {
    for (const path of [
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
    ]) {
      const metadata = (await (await fetch(t.url(path))).json()) as Record<string, unknown>
      const algs = metadata.dpop_signing_alg_values_supported as string[]
      expect(Array.isArray(algs) && algs.length > 0).toBe(true)
      expect(
        algs.every((alg) => typeof alg === 'string' && alg !== 'none' && !alg.startsWith('HS')),
      ).toBe(true)
      for (const value of Object.values(metadata))
        if (Array.isArray(value)) expect(value.length).toBeGreaterThan(0)
      expect(metadata).toMatchObject({
        issuer: t.issuer,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
      })
    }
    for (const alg of ['ES256', 'ES384', 'PS256', 'EdDSA'] as const) {
      const dpop = await Dpop.create(alg)
      const answer = await dpop.post(
        tokenUrl(),
        { grant_type: 'client_credentials' },
        basic('service'),
      )
      expect([alg, answer.status]).toEqual([alg, 200])
    }
    // The lax server lists only ES256 and EdDSA: a PS256 proof is refused there.
    const laxAlgs = (
      (await (await fetch(lax.url('/.well-known/oauth-authorization-server'))).json()) as Record<
        string,
        unknown
      >
    ).dpop_signing_alg_values_supported
    expect(laxAlgs).toEqual(['ES256', 'EdDSA'])
    const ps = await Dpop.create('PS256')
    const refused = await ps.post(
      lax.url('/token'),
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    expect([refused.status, refused.body.error]).toEqual([400, 'invalid_dpop_proof'])
  })

  it('AS8 — dpop_bound_access_tokens clients must send a proof; registration validates the flag', async () => {
    const missing = await postForm(
      lax.url('/token'),
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    expect([missing.status, missing.body.error]).toEqual([400, 'invalid_request'])
    const unbound = await postForm(lax.url('/token'), {
      grant_type: 'client_credentials',
      client_secret: 'service-secret-0123456789abcdef',
      client_id: 'service-post',
    })
    expect([unbound.status, unbound.body.token_type]).toEqual([200, 'Bearer'])
    const register = (metadata: unknown) =>
      fetch(lax.url('/register'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer initial-access-token-0123456789',
        },
        body: JSON.stringify(metadata),
      })
    const yes = await register({
      grant_types: ['client_credentials'],
      dpop_bound_access_tokens: 'yes',
    })
    expect(yes.status).toBe(400)
    expect(((await yes.json()) as { error: string }).error).toBe('invalid_client_metadata')
    const registered = await register({
      grant_types: ['client_credentials'],
      dpop_bound_access_tokens: true,
    })
    expect(registered.status).toBe(201)
    const client = (await registered.json()) as {
      client_id: string
      client_secret: string
      dpop_bound_access_tokens: boolean
    }
    expect(client.dpop_bound_access_tokens).toBe(true)
    const without = await postForm(
      lax.url('/token'),
      { grant_type: 'client_credentials' },
      basic(client.client_id, client.client_secret),
    )
    expect([without.status, without.body.error]).toEqual([400, 'invalid_request'])
    const withProof = await (
      await Dpop.create()
    ).post(
      lax.url('/token'),
      { grant_type: 'client_credentials' },
      basic(client.client_id, client.client_secret),
    )
    expect([withProof.status, withProof.body.token_type]).toEqual([200, 'DPoP'])
  })

  it('AS9 — cnf.jkt is the RFC 7638 thumbprint of the proof key, in an RFC 9068 JWT', async () => {
    const dpop = await Dpop.create()
    const answer = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    const jwks = jose.createRemoteJWKSet(new URL(t.url('/jwks')))
    const { payload, protectedHeader } = await jose.jwtVerify(answer.body.access_token, jwks, {
      issuer: t.issuer,
      audience: t.issuer,
      typ: 'at+jwt',
    })
    const oracle = await jose.calculateJwkThumbprint(dpop.key.publicJwk as jose.JWK, 'sha256')
    expect(payload.cnf).toEqual({ jkt: oracle })
    expect(await calculateJwkThumbprint(dpop.key.publicJwk)).toBe(oracle)
    expect(oracle).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(protectedHeader.typ).toBe('at+jwt')
    for (const claim of ['iss', 'aud', 'sub', 'client_id', 'iat', 'exp', 'jti', 'scope'])
      expect(payload[claim], claim).toBeDefined()
    expect(payload.client_id).toBe('service')
  })

  it('AS10 — introspection returns cnf.jkt and token_type DPoP, and active:false alone', async () => {
    const dpop = await Dpop.create()
    const jwt = await dpop.post(tokenUrl(), { grant_type: 'client_credentials' }, basic('service'))
    const opaque = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('opaque-service'),
    )
    expect(opaque.body.access_token).toMatch(/^kbat_/)
    for (const token of [jwt.body.access_token, opaque.body.access_token]) {
      const answer = await postForm(t.url('/introspect'), { token }, basic('resource-server'))
      expect(answer.status).toBe(200)
      expect(answer.headers.get('dpop')).toBeNull()
      expect(answer.body).toMatchObject({
        active: true,
        token_type: 'DPoP',
        cnf: { jkt: dpop.jkt },
        iss: t.issuer,
      })
    }
    const inactive = await postForm(
      t.url('/introspect'),
      { token: 'nonsense' },
      basic('resource-server'),
    )
    expect(inactive.body).toEqual({ active: false })
    const publicCaller = await postForm(t.url('/introspect'), {
      token: jwt.body.access_token,
      client_id: 'public-app',
    })
    expect([publicCaller.status, publicCaller.body.error]).toEqual([401, 'invalid_client'])
  })

  it('AS11 — nonces: use_dpop_nonce with exactly one unpredictable DPoP-Nonce', async () => {
    const dpop = await Dpop.create()
    const url = tokenUrl()
    const first = await rawPost(url, 'grant_type=client_credentials', [
      ['authorization', basic('service').authorization!],
      ['dpop', await dpop.proof(url, { nonce: null })],
    ])
    expect([first.status, first.body.error]).toEqual([400, 'use_dpop_nonce'])
    const nonces = headerValues(first.rawHeaders, 'dpop-nonce')
    expect(nonces).toHaveLength(1)
    expect(nonces[0]).toMatch(NQCHAR)
    const seen = new Set<string>()
    const batch = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const answer = await postForm(
          url,
          { grant_type: 'client_credentials' },
          { ...basic('service'), dpop: await dpop.proof(url, { nonce: null }) },
        )
        return answer.headers.get('dpop-nonce')!
      }),
    )
    for (const nonce of batch) seen.add(nonce)
    expect(seen.size).toBe(1000)
    const nonce = nonces[0]!
    const last = nonce.at(-1) === 'A' ? 'B' : 'A'
    const wrong = await postForm(
      url,
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: await dpop.proof(url, { nonce: nonce.slice(0, -1) + last }) },
    )
    expect([wrong.status, wrong.body.error]).toEqual([400, 'use_dpop_nonce'])
    const right = await postForm(
      url,
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: await dpop.proof(url, { nonce }) },
    )
    expect(right.status).toBe(200)
  })

  it('AS12 — the nonce rotates in a 200 and the old one expires', async () => {
    let clock = Date.now()
    const timed = await startServer(kind, {}, { now: () => clock })
    try {
      const url = timed.url('/token')
      const dpop = await Dpop.create()
      const form = { grant_type: 'client_credentials' }
      const challenge = await postForm(url, form, {
        ...basic('service'),
        dpop: await dpop.proof(url, { nonce: null }),
      })
      const old = challenge.headers.get('dpop-nonce')!
      const fresh = await postForm(url, form, {
        ...basic('service'),
        dpop: await dpop.proof(url, { nonce: old }),
      })
      expect([fresh.status, fresh.headers.get('dpop-nonce')]).toEqual([200, null])
      clock += 60_000
      const rotated = await postForm(url, form, {
        ...basic('service'),
        dpop: await dpop.proof(url, { nonce: old }),
      })
      expect(rotated.status).toBe(200)
      const next = rotated.headers.get('dpop-nonce')
      expect(next).toMatch(NQCHAR)
      expect(next).not.toBe(old)
      expect(rotated.headers.get('cache-control')).toBe('no-store')
      clock += 60_000
      const stale = await postForm(url, form, {
        ...basic('service'),
        dpop: await dpop.proof(url, { nonce: old }),
      })
      expect([stale.status, stale.body.error]).toEqual([400, 'use_dpop_nonce'])
      const current = await postForm(url, form, {
        ...basic('service'),
        dpop: await dpop.proof(url, { nonce: next! }),
      })
      expect(current.status).toBe(200)
    } finally {
      await timed.close()
    }
  })

  it('AS13 — dpop_jkt binds the authorization code to one key', async () => {
    const k1 = await Dpop.create()
    const k2 = await Dpop.create()
    const { code, verifier } = await getCode(t.issuer, 'public-app', { dpop_jkt: k1.jkt })
    const mismatch = await k2.post(tokenUrl(), codeForm('public-app', code, verifier))
    expect([mismatch.status, mismatch.body.error]).toEqual([400, 'invalid_grant'])
    const none = await postForm(tokenUrl(), codeForm('public-app', code, verifier))
    expect(none.status).toBe(400)
    // Neither rejected request consumed the code.
    const match = await k1.post(tokenUrl(), codeForm('public-app', code, verifier))
    expect(match.status, match.text).toBe(200)
    // V11 (RFC 9449 §10): Fig. 25's dpop_jkt is the RSA example's thumbprint, so an EC proof fails.
    const fig25 = await getCode(t.issuer, 'public-app', {
      dpop_jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
    })
    const chained = await k1.post(tokenUrl(), codeForm('public-app', fig25.code, fig25.verifier))
    expect([chained.status, chained.body.error]).toEqual([400, 'invalid_grant'])
  })

  it('AS14 — PAR takes dpop_jkt, a DPoP header, or both when they match', async () => {
    const k1 = await Dpop.create()
    const k2 = await Dpop.create()
    const viaJkt = await pushRequest(parUrl(), 'public-app', { dpop_jkt: k1.jkt })
    expect(viaJkt.answer.status, viaJkt.answer.text).toBe(201)
    expect(viaJkt.answer.headers.get('cache-control')).toBe('no-store')
    const code1 = await codeFromPushed(t.issuer, 'public-app', viaJkt.answer.body.request_uri)
    expect((await k1.post(tokenUrl(), codeForm('public-app', code1, viaJkt.verifier))).status).toBe(
      200,
    )

    const viaHeader = await pushRequest(parUrl(), 'public-app', {}, {}, k1)
    expect(viaHeader.answer.status, viaHeader.answer.text).toBe(201)
    const code2 = await codeFromPushed(t.issuer, 'public-app', viaHeader.answer.body.request_uri)
    const wrongKey = await k2.post(tokenUrl(), codeForm('public-app', code2, viaHeader.verifier))
    expect([wrongKey.status, wrongKey.body.error]).toEqual([400, 'invalid_grant'])
    expect(
      (await k1.post(tokenUrl(), codeForm('public-app', code2, viaHeader.verifier))).status,
    ).toBe(200)

    const both = await pushRequest(parUrl(), 'public-app', { dpop_jkt: k1.jkt }, {}, k2)
    expect([both.answer.status, both.answer.body.error]).toEqual([400, 'invalid_request'])

    const nonce = await fetchNonce(parUrl())
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: rawJwk }
    const invalid = await pushRequest(
      parUrl(),
      'public-app',
      {},
      { dpop: await signRaw({ ...header, typ: 'JWT' }, proofClaims(parUrl(), nonce)) },
    )
    expect([invalid.answer.status, invalid.answer.body.error]).toEqual([400, 'invalid_dpop_proof'])
    const forToken = await pushRequest(
      parUrl(),
      'public-app',
      {},
      { dpop: await signRaw(header, proofClaims(tokenUrl(), nonce)) },
    )
    expect([forToken.answer.status, forToken.answer.body.error]).toEqual([
      400,
      'invalid_dpop_proof',
    ])
    const noNonce = await pushRequest(
      parUrl(),
      'public-app',
      {},
      { dpop: await signRaw(header, proofClaims(parUrl())) },
    )
    expect([noNonce.answer.status, noNonce.answer.body.error]).toEqual([400, 'use_dpop_nonce'])
    expect(noNonce.answer.headers.get('dpop-nonce')).toMatch(NQCHAR)
  })

  it('AS15 — dpop_jkt inside a signed request object binds the code', async () => {
    const k1 = await Dpop.create()
    const k2 = await Dpop.create()
    const { verifier, challenge } = await import('./support.js').then((m) => m.pkce())
    const requestObject = await new jose.SignJWT({
      response_type: 'code',
      client_id: 'jar-app',
      redirect_uri: REDIRECT,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      dpop_jkt: k1.jkt,
    })
      .setProtectedHeader({ alg: 'ES256', kid: 'client-key-1', typ: 'oauth-authz-req+jwt' })
      .setIssuer('jar-app')
      .setAudience(t.issuer)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(clientSigningKey.privateKey)
    const pushed = await postForm(parUrl(), { client_id: 'jar-app', request: requestObject })
    expect(pushed.status, pushed.text).toBe(201)
    const code = await codeFromPushed(t.issuer, 'jar-app', pushed.body.request_uri)
    const wrong = await k2.post(tokenUrl(), codeForm('jar-app', code, verifier))
    expect([wrong.status, wrong.body.error]).toEqual([400, 'invalid_grant'])
    expect((await k1.post(tokenUrl(), codeForm('jar-app', code, verifier))).status).toBe(200)
    // A request object signed by another key is refused.
    const forged = await new jose.SignJWT({ client_id: 'jar-app', dpop_jkt: k2.jkt })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('jar-app')
      .setAudience(t.issuer)
      .sign((await jose.generateKeyPair('ES256')).privateKey)
    const refused = await postForm(parUrl(), { client_id: 'jar-app', request: forged })
    expect([refused.status, refused.body.error]).toEqual([400, 'invalid_request_object'])
  })

  it('AS16 — the config lint warns about long-lived tokens without nonces', async () => {
    const base = { accessTokens: { lifetime: 7200 }, storage: { dataDir: '/nonexistent' } }
    const withoutNonce = lintConfig(
      resolveConfig({ ...base, dpop: { nonce: { required: false } } }, {}),
    )
    expect(withoutNonce.some((warning) => warning.includes('§11.2'))).toBe(true)
    expect(lintConfig(resolveConfig(base, {})).some((warning) => warning.includes('§11.2'))).toBe(
      false,
    )
    expect(lax.server.warnings.some((warning) => warning.includes('§11.2'))).toBe(false)
  })

  it('AS17 — token responses carry Cache-Control: no-store', async () => {
    const dpop = await Dpop.create()
    const ok = await dpop.post(tokenUrl(), { grant_type: 'client_credentials' }, basic('service'))
    const bad = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('service', 'wrong-secret-0123456789'),
    )
    const unsupported = await dpop.post(tokenUrl(), { grant_type: 'password' }, basic('service'))
    expect([ok.status, bad.status, unsupported.status]).toEqual([200, 401, 400])
    expect(bad.headers.get('www-authenticate')).toMatch(/^Basic /)
    for (const answer of [ok, bad, unsupported])
      expect(answer.headers.get('cache-control')).toBe('no-store')
  })

  it('AS18 — a replayed proof is refused and does not consume the code; iat window', async () => {
    const dpop = await Dpop.create()
    const url = tokenUrl()
    dpop.nonce = await fetchNonce(url)
    const proof = await dpop.proof(url)
    const used = await postForm(
      url,
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: proof },
    )
    expect(used.status).toBe(200)
    const { code, verifier } = await getCode(t.issuer, 'public-app')
    const replay = await postForm(url, codeForm('public-app', code, verifier), { dpop: proof })
    expect([replay.status, replay.body.error]).toEqual([400, 'invalid_dpop_proof'])
    const fresh = await postForm(url, codeForm('public-app', code, verifier), {
      dpop: await dpop.proof(url),
    })
    expect(fresh.status, fresh.text).toBe(200)
    // PAR has replay protection too.
    const parProof = await dpop.proof(parUrl())
    expect((await pushRequest(parUrl(), 'public-app', {}, { dpop: parProof })).answer.status).toBe(
      201,
    )
    const parReplay = await pushRequest(parUrl(), 'public-app', {}, { dpop: parProof })
    expect([parReplay.answer.status, parReplay.answer.body.error]).toEqual([
      400,
      'invalid_dpop_proof',
    ])
    // Without nonces the iat window decides (lax server: maxAge 60 s, tolerance 10 s).
    const laxUrl = lax.url('/token')
    const now = Math.floor(Date.now() / 1000)
    for (const [iat, status] of [
      [now - 3600, 400],
      [now + 3600, 400],
      [now - 10, 200],
      [now + 8, 200],
    ] as const) {
      const answer = await postForm(
        laxUrl,
        { grant_type: 'client_credentials' },
        { ...basic('service'), dpop: await dpop.proof(laxUrl, { iat, nonce: null }) },
      )
      expect([iat - now, answer.status]).toEqual([iat - now, status])
    }
  })

  describe('error table, AS rows', () => {
    it('invalid proof at token and PAR → 400 invalid_dpop_proof + no-store', async () => {
      for (const url of [tokenUrl(), parUrl()]) {
        const answer = await postForm(
          url,
          { grant_type: 'client_credentials', client_id: 'public-app' },
          { ...basic('service'), dpop: 'a.b.c' },
        )
        expect([answer.status, answer.body.error, answer.headers.get('cache-control')]).toEqual([
          400,
          'invalid_dpop_proof',
          'no-store',
        ])
      }
    })

    it('nonce required at token and PAR → 400 use_dpop_nonce + exactly one DPoP-Nonce', async () => {
      const dpop = await Dpop.create()
      for (const url of [tokenUrl(), parUrl()]) {
        const answer = await rawPost(url, 'grant_type=client_credentials', [
          ['authorization', basic('service').authorization!],
          ['dpop', await dpop.proof(url, { nonce: null })],
        ])
        expect([answer.status, answer.body.error]).toEqual([400, 'use_dpop_nonce'])
        expect(headerValues(answer.rawHeaders, 'dpop-nonce')).toHaveLength(1)
        expect(headerValues(answer.rawHeaders, 'cache-control')).toEqual(['no-store'])
      }
    })

    it('dpop_jkt / PAR key mismatch at the token endpoint → 400 invalid_grant', async () => {
      const [k1, k2] = [await Dpop.create(), await Dpop.create()]
      const pushed = await pushRequest(parUrl(), 'public-app', { dpop_jkt: k1.jkt })
      const code = await codeFromPushed(t.issuer, 'public-app', pushed.answer.body.request_uri)
      const answer = await k2.post(tokenUrl(), codeForm('public-app', code, pushed.verifier))
      expect([answer.status, answer.body.error]).toEqual([400, 'invalid_grant'])
    })

    it('public-client refresh with the wrong key → 400 invalid_grant', async () => {
      const tokens = await publicTokens(await Dpop.create())
      const answer = await (
        await Dpop.create()
      ).post(tokenUrl(), {
        grant_type: 'refresh_token',
        client_id: 'public-app',
        refresh_token: tokens.refresh_token,
      })
      expect([answer.status, answer.body.error]).toEqual([400, 'invalid_grant'])
    })

    it('dpop_bound_access_tokens client without a DPoP header → 400 invalid_request', async () => {
      const answer = await postForm(
        lax.url('/token'),
        { grant_type: 'client_credentials' },
        basic('service'),
      )
      expect([answer.status, answer.body.error]).toEqual([400, 'invalid_request'])
    })
  })
})
