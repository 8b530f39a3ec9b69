/**
 * The endpoints beyond the RFC 9449 checklist: rotation and reuse detection, code reuse,
 * revocation, client authentication methods, the login and consent pages, registration, key
 * rotation, health, metrics and logs. Once on SQLite, once on PostgreSQL.
 */
import { Writable } from 'node:stream'
import * as jose from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  authorize,
  basic,
  clientSigningKey,
  codeForm,
  DATABASES,
  decodeJwt,
  Dpop,
  getCode,
  pkce,
  postForm,
  pushRequest,
  REDIRECT,
  SECRET,
  startServer,
  type TestServer,
} from './support.js'

describe.each(DATABASES)('authorization server endpoints on %s', (kind) => {
  let t: TestServer
  const logLines: string[] = []
  const tokenUrl = () => t.url('/token')

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk))
        done()
      },
    })
    t = await startServer(kind, {}, { logger: { level: 'debug', stream } })
  })
  afterAll(async () => {
    await t?.close()
  })

  async function publicTokens(dpop: Dpop) {
    const { code, verifier } = await getCode(t.issuer, 'public-app')
    const answer = await dpop.post(tokenUrl(), codeForm('public-app', code, verifier))
    expect(answer.status, answer.text).toBe(200)
    return { ...answer.body, code, verifier }
  }

  it('a reused refresh token revokes its whole family', async () => {
    const dpop = await Dpop.create()
    const first = await publicTokens(dpop)
    const refresh = (token: string) =>
      dpop.post(tokenUrl(), {
        grant_type: 'refresh_token',
        client_id: 'public-app',
        refresh_token: token,
      })
    const second = await refresh(first.refresh_token)
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).not.toBe(first.refresh_token)
    const reuse = await refresh(first.refresh_token)
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant'])
    const afterReuse = await refresh(second.body.refresh_token)
    expect([afterReuse.status, afterReuse.body.error]).toEqual([400, 'invalid_grant'])
  })

  it('a reused authorization code is refused and revokes what it issued', async () => {
    const dpop = await Dpop.create()
    const first = await publicTokens(dpop)
    const again = await dpop.post(tokenUrl(), codeForm('public-app', first.code, first.verifier))
    expect([again.status, again.body.error]).toEqual([400, 'invalid_grant'])
    const refreshed = await dpop.post(tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: 'public-app',
      refresh_token: first.refresh_token,
    })
    expect(refreshed.status).toBe(400)
  })

  it('PKCE, redirect_uri and client checks at the token endpoint', async () => {
    const dpop = await Dpop.create()
    const { code, verifier } = await getCode(t.issuer, 'public-app')
    const wrongVerifier = await dpop.post(tokenUrl(), codeForm('public-app', code, pkce().verifier))
    expect([wrongVerifier.status, wrongVerifier.body.error]).toEqual([400, 'invalid_grant'])
    const wrongRedirect = await dpop.post(tokenUrl(), {
      ...codeForm('public-app', code, verifier),
      redirect_uri: 'http://127.0.0.1:9/other',
    })
    expect(wrongRedirect.body.error).toBe('invalid_grant')
    const otherClient = await dpop.post(tokenUrl(), codeForm('third-party', code, verifier))
    expect(otherClient.body.error).toBe('invalid_grant')
    const repeated = await fetch(tokenUrl(), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await dpop.proof(tokenUrl()),
      },
      body: `grant_type=authorization_code&code=${code}&code=${code}&client_id=public-app&code_verifier=${verifier}`,
    })
    expect([repeated.status, ((await repeated.json()) as { error: string }).error]).toEqual([
      400,
      'invalid_request',
    ])
    expect((await dpop.post(tokenUrl(), codeForm('public-app', code, verifier))).status).toBe(200)
  })

  it('revocation: refresh token family, JWT and opaque access tokens', async () => {
    const dpop = await Dpop.create()
    const tokens = await publicTokens(dpop)
    expect(
      (await postForm(t.url('/revoke'), { token: tokens.refresh_token, client_id: 'public-app' }))
        .status,
    ).toBe(200)
    const refreshed = await dpop.post(tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: 'public-app',
      refresh_token: tokens.refresh_token,
    })
    expect(refreshed.body.error).toBe('invalid_grant')
    for (const client of ['service', 'opaque-service']) {
      const issued = await dpop.post(
        tokenUrl(),
        { grant_type: 'client_credentials' },
        basic(client),
      )
      const before = await postForm(
        t.url('/introspect'),
        { token: issued.body.access_token },
        basic('resource-server'),
      )
      expect(before.body.active).toBe(true)
      // Another client cannot revoke it; the owner can.
      await postForm(
        t.url('/revoke'),
        { token: issued.body.access_token },
        basic('service-post', 'wrong'),
      )
      expect(
        (await postForm(t.url('/revoke'), { token: issued.body.access_token }, basic(client)))
          .status,
      ).toBe(200)
      const after = await postForm(
        t.url('/introspect'),
        { token: issued.body.access_token },
        basic('resource-server'),
      )
      expect(after.body).toEqual({ active: false })
    }
    expect((await postForm(t.url('/revoke'), { token: 'unknown' }, basic('service'))).status).toBe(
      200,
    )
  })

  it('client authentication: secret_post, private_key_jwt with replay check, wrong method', async () => {
    const dpop = await Dpop.create()
    const post = await dpop.post(tokenUrl(), {
      grant_type: 'client_credentials',
      client_id: 'service-post',
      client_secret: SECRET,
    })
    expect(post.status, post.text).toBe(200)
    const basicForPost = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('service-post'),
    )
    expect([basicForPost.status, basicForPost.body.error]).toEqual([401, 'invalid_client'])
    const assertion = await new jose.SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'client-key-1' })
      .setIssuer('service-jwt')
      .setSubject('service-jwt')
      .setAudience(t.issuer)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(clientSigningKey.privateKey)
    const form = {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }
    const jwt = await dpop.post(tokenUrl(), form)
    expect(jwt.status, jwt.text).toBe(200)
    expect(decodeJwt(jwt.body.access_token).payload.client_id).toBe('service-jwt')
    const replayed = await dpop.post(tokenUrl(), form)
    expect([replayed.status, replayed.body.error]).toEqual([401, 'invalid_client'])
    const twoMethods = await dpop.post(
      tokenUrl(),
      { ...form, client_secret: SECRET },
      basic('service'),
    )
    expect(twoMethods.body.error).toBe('invalid_request')
  })

  it('authorization endpoint: iss and state in the redirect, errors, consent, wrong password', async () => {
    const { challenge } = pkce()
    const base = {
      response_type: 'code',
      client_id: 'public-app',
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's-1',
    }
    const ok = await authorize(t.issuer, base)
    expect(ok.location?.searchParams.get('iss')).toBe(t.issuer)
    expect(ok.location?.searchParams.get('state')).toBe('s-1')
    const unregistered = await authorize(t.issuer, {
      ...base,
      redirect_uri: 'https://evil.example/cb',
    })
    expect([unregistered.status, unregistered.location]).toEqual([400, undefined])
    const unknownClient = await authorize(t.issuer, { ...base, client_id: 'nobody' })
    expect(unknownClient.status).toBe(400)
    for (const broken of [
      { code_challenge_method: 'plain' },
      { code_challenge: undefined },
      { response_type: 'token' },
      { scope: 'admin' },
    ]) {
      const query = Object.fromEntries(
        Object.entries({ ...base, ...broken }).filter(([, v]) => v !== undefined),
      ) as Record<string, string>
      const result = await authorize(t.issuer, query)
      expect(result.status).toBe(303)
      expect(result.location?.searchParams.get('error')).toMatch(
        /^(invalid_request|unsupported_response_type|invalid_scope)$/,
      )
      expect(result.location?.searchParams.get('iss')).toBe(t.issuer)
      expect(result.location?.searchParams.get('state')).toBe('s-1')
    }
    const parOnly = await authorize(t.issuer, { ...base, client_id: 'par-only' })
    expect(parOnly.location?.searchParams.get('error')).toBe('invalid_request')
    const wrongPassword = await authorize(t.issuer, base, { password: 'nope' })
    expect(wrongPassword.status).toBe(401)
    expect(wrongPassword.page).toContain('Invalid username or password')
    const thirdParty = { ...base, client_id: 'third-party', scope: 'read' }
    const denied = await authorize(t.issuer, thirdParty, { decision: 'deny' })
    expect(denied.location?.searchParams.get('error')).toBe('access_denied')
    const allowed = await authorize(t.issuer, thirdParty)
    expect(allowed.code).toBeDefined()
    const start = await fetch(`${t.issuer}/authorize?${new URLSearchParams({ ...thirdParty })}`)
    expect(await start.text()).toContain('Third &#60;Party&#62;')
  })

  it('a pushed request_uri is used once and belongs to its client', async () => {
    const pushed = await pushRequest(t.url('/par'), 'public-app')
    const requestUri = pushed.answer.body.request_uri as string
    expect(requestUri).toMatch(/^urn:ietf:params:oauth:request_uri:/)
    const stolen = await authorize(t.issuer, { client_id: 'third-party', request_uri: requestUri })
    expect(stolen.status).toBe(400)
    expect(
      (await authorize(t.issuer, { client_id: 'public-app', request_uri: requestUri })).code,
    ).toBeDefined()
    expect(
      (await authorize(t.issuer, { client_id: 'public-app', request_uri: requestUri })).status,
    ).toBe(400)
    const inBody = await postForm(t.url('/par'), {
      client_id: 'public-app',
      request_uri: requestUri,
    })
    expect(inBody.body.error).toBe('invalid_request')
  })

  it('dynamic registration needs the initial access token and valid metadata', async () => {
    const register = (body: unknown, token = 'initial-access-token-0123456789') =>
      fetch(t.url('/register'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      })
    const noToken = await register({ redirect_uris: [REDIRECT] }, 'wrong-token')
    expect(noToken.status).toBe(401)
    expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    const badRedirect = await register({
      redirect_uris: ['http://example.com/cb'],
      token_endpoint_auth_method: 'none',
    })
    expect(await badRedirect.json()).toMatchObject({ error: 'invalid_redirect_uri' })
    const badMethod = await register({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'magic',
    })
    expect(await badMethod.json()).toMatchObject({ error: 'invalid_client_metadata' })
    const created = await register({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      scope: 'read',
      client_name: 'Registered',
    })
    expect(created.status).toBe(201)
    const client = (await created.json()) as Record<string, unknown>
    expect(client.client_secret).toBeUndefined()
    const dpop = await Dpop.create()
    const { code, verifier } = await getCode(t.issuer, client.client_id as string)
    const tokens = await dpop.post(tokenUrl(), codeForm(client.client_id as string, code, verifier))
    expect(tokens.status, tokens.text).toBe(200)
  })

  it('signing keys rotate; old tokens still validate through the JWKS', async () => {
    const dpop = await Dpop.create()
    const before = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    await t.server.rotateSigningKeys()
    const after = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    const oldKid = decodeJwt(before.body.access_token).header.kid
    const newKid = decodeJwt(after.body.access_token).header.kid
    expect(newKid).not.toBe(oldKid)
    const jwks = (await (await fetch(t.url('/jwks'))).json()) as {
      keys: { kid: string; d?: string }[]
    }
    expect(jwks.keys.map((key) => key.kid)).toEqual(expect.arrayContaining([oldKid, newKid]))
    expect(jwks.keys.every((key) => key.d === undefined)).toBe(true)
    const remote = jose.createRemoteJWKSet(new URL(t.url('/jwks')))
    for (const token of [before.body.access_token, after.body.access_token]) {
      await expect(
        jose.jwtVerify(token, remote, { issuer: t.issuer, typ: 'at+jwt' }),
      ).resolves.toBeDefined()
      expect(
        (await postForm(t.url('/introspect'), { token }, basic('resource-server'))).body.active,
      ).toBe(true)
    }
  })

  it('healthz, metrics, unknown routes', async () => {
    const health = await fetch(t.url('/healthz'))
    expect([health.status, ((await health.json()) as { database: string }).database]).toEqual([
      200,
      kind,
    ])
    const metrics = await (await fetch(t.server.metricsUrl()!)).text()
    expect(metrics).toContain(
      'keybound_as_tokens_issued_total{grant_type="client_credentials",token_type="DPoP"}',
    )
    expect(metrics).toContain('keybound_as_errors_total')
    const missing = await fetch(t.url('/nope'))
    expect(missing.status).toBe(404)
  })

  it('logs carry no secrets, tokens, proofs or passwords', async () => {
    const dpop = await Dpop.create()
    const tokens = await publicTokens(dpop)
    const proof = await dpop.proof(tokenUrl())
    await postForm(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: proof },
    )
    const logs = logLines.join('')
    expect(logs.length).toBeGreaterThan(0)
    for (const secret of [
      SECRET,
      'correct horse battery staple',
      tokens.access_token,
      tokens.refresh_token,
      tokens.code,
      proof,
      'initial-access-token-0123456789',
    ]) {
      expect(logs.includes(secret)).toBe(false)
    }
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\./)
  })
})
