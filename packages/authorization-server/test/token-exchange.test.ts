/**
 * Token exchange (RFC 8693) that keeps the DPoP binding, over real HTTP on SQLite and on
 * PostgreSQL: the holder's exchange, delegation by operator rule and by `may_act`, nested `act`
 * up to the configured depth, a two-hop service chain whose last token a real @keybound/server
 * resource server accepts (and whose `act` it sees), and every refusal with its RFC 8693
 * §2.2.2 / RFC 6749 §5.2 error.
 *
 * The trusted outside issuer is a real JWKS endpoint on 127.0.0.1 serving a key this file
 * generates; its tokens are RFC 9068 JWT access tokens (`typ: at+jwt`, `iss`, `sub`, `aud`,
 * `exp`, `client_id`, optional `cnf.jkt` and RFC 8693 §4.4 `may_act`).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createProof } from '@keybound/core'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { protect } from '@keybound/server/node'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig, TOKEN_EXCHANGE_GRANT } from '../src/index.js'
import {
  baseClients,
  basic,
  codeForm,
  DATABASES,
  decodeJwt,
  Dpop,
  getCode,
  postForm,
  startServer,
  type Answer,
  type TestServer,
} from './support.js'
import { listen } from '@keybound/test-kit/net'

const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
const REFRESH_TOKEN = 'urn:ietf:params:oauth:token-type:refresh_token'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const API_A = 'https://api-a.example/'
const API_B = 'https://api-b.example/'
const API_C = 'https://api-c.example/'
const API_D = 'https://api-d.example/'
const REPORTS = 'urn:example:reports'
const SECRET = 'service-secret-0123456789abcdef'

/** A trusted outside issuer: its JWKS on a real loopback listener, tokens signed here. */
interface OutsideIssuer {
  issuer: string
  jwksUri: string
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): string
  close(): Promise<void>
}

async function startOutsideIssuer(): Promise<OutsideIssuer> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'outside-1', alg: 'ES256', use: 'sig' }
  const server: Server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [jwk] }))
  })
  const base = (await listen(server)).url
  return {
    issuer: base,
    jwksUri: `${base}/jwks`,
    sign(claims, header = {}) {
      const head = { alg: 'ES256', typ: 'at+jwt', kid: 'outside-1', ...header }
      const input = `${Buffer.from(JSON.stringify(head)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
      const signature = sign('sha256', Buffer.from(input), {
        key: privateKey,
        dsaEncoding: 'ieee-p1363',
      })
      return `${input}.${signature.toString('base64url')}`
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function exchangeClients(): Record<string, unknown>[] {
  const service = (client_id: string, extra: Record<string, unknown> = {}) => ({
    client_id,
    client_secret: SECRET,
    grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
    scope: 'read write',
    ...extra,
  })
  return [
    service('svc-a'),
    service('svc-b'),
    service('svc-c'),
    // A client allowed the grant but named by no rule.
    service('svc-x'),
    // The operator asked for Bearer tokens for this client: an exchange still binds.
    service('bearer-svc', { bearer_access_tokens: true }),
  ]
}

/** The server config of the suite: resources, delegation rules, act depth 2, the outside issuer. */
function exchangeSettings(outside: OutsideIssuer, extraClients: Record<string, unknown>[]) {
  return {
    resources: [{ identifier: API_A }, { identifier: API_B }, { identifier: API_C }],
    tokenExchange: {
      audiences: [REPORTS],
      maxActDepth: 2,
      delegation: [
        { actor: 'svc-a', subjectClients: ['public-app'], audiences: [API_B] },
        { actor: 'svc-b', subjectClients: ['svc-a'], audiences: [API_C], scope: 'read' },
        { actor: 'svc-c', subjectClients: ['svc-b'], audiences: [API_D] },
        // `*` is any client of this server: it does not cover another issuer's clients.
        { actor: 'svc-c', subjectClients: ['*'], audiences: [REPORTS] },
        // Another issuer's client is named with its issuer.
        { actor: 'svc-b', subjectClients: [`${outside.issuer}#outside-app`], audiences: [REPORTS] },
      ],
      trustedIssuers: [{ issuer: outside.issuer, jwksUri: outside.jwksUri }],
    },
    extraClients,
  }
}

async function startExchangeServer(
  kind: (typeof DATABASES)[number],
  outside: OutsideIssuer,
  overrides: Record<string, unknown> = {},
): Promise<TestServer> {
  const { extraClients, ...settings } = exchangeSettings(outside, exchangeClients())
  return startServer(kind, {
    clients: [...baseClients(), ...extraClients],
    ...settings,
    ...overrides,
  })
}

describe.each(DATABASES)('token exchange (RFC 8693) with DPoP on %s', (kind) => {
  let t: TestServer
  let outside: OutsideIssuer
  const tokenUrl = () => t.url('/token')

  beforeAll(async () => {
    outside = await startOutsideIssuer()
    t = await startExchangeServer(kind, outside)
  })
  afterAll(async () => {
    await t?.close()
    await outside?.close()
  })

  /** A client_credentials token of `clientId`, bound to `dpop`. */
  async function serviceToken(clientId: string, dpop: Dpop, extra: Record<string, string> = {}) {
    const answer = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials', ...extra },
      basic(clientId),
    )
    expect(answer.status, answer.text).toBe(200)
    return answer.body.access_token as string
  }

  /** A user's token and refresh token (public-app, authorization code, bound to `dpop`). */
  async function userTokens(dpop: Dpop): Promise<{ access: string; refresh: string }> {
    const { code, verifier } = await getCode(t.issuer, 'public-app', { dpop_jkt: dpop.jkt })
    const answer = await dpop.post(tokenUrl(), codeForm('public-app', code, verifier))
    expect(answer.status, answer.text).toBe(200)
    return { access: answer.body.access_token, refresh: answer.body.refresh_token }
  }

  function exchange(
    clientId: string,
    dpop: Dpop,
    subjectToken: string,
    extra: Record<string, string> = {},
  ): Promise<Answer> {
    return dpop.post(
      tokenUrl(),
      {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN,
        ...extra,
      },
      basic(clientId),
    )
  }

  function expectRefusal(answer: Answer, error: string): void {
    expect([answer.status, answer.body?.error], answer.text).toEqual([400, error])
    expect(answer.body.access_token).toBeUndefined()
    expect(answer.headers.get('cache-control')).toBe('no-store')
  }

  it('AS19 — the metadata lists the token-exchange grant', async () => {
    const response = await fetch(t.url('/.well-known/oauth-authorization-server'))
    const metadata = (await response.json()) as { grant_types_supported: string[] }
    expect(metadata.grant_types_supported).toContain(TOKEN_EXCHANGE_GRANT)
  })

  it("AS20, AS21 — the holder exchanges its own token: bound to the proof's key, no act, never outliving the subject", async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('svc-a', dpop)
    const answer = await exchange('svc-a', dpop, subject, { resource: API_A, scope: 'read' })
    expect(answer.status, answer.text).toBe(200)
    expect(answer.body).toMatchObject({
      token_type: 'DPoP',
      issued_token_type: ACCESS_TOKEN,
      scope: 'read',
    })
    expect(answer.body.refresh_token).toBeUndefined()
    const issued = decodeJwt(answer.body.access_token).payload
    const original = decodeJwt(subject).payload
    expect(issued).toMatchObject({ sub: 'svc-a', aud: API_A, cnf: { jkt: dpop.jkt } })
    expect(issued.act).toBeUndefined()
    expect(issued.exp).toBeLessThanOrEqual(original.exp)
  })

  it('AS20 — requested_token_type jwt is answered with issued_token_type jwt, still bound', async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('svc-a', dpop)
    const answer = await exchange('svc-a', dpop, subject, {
      audience: REPORTS,
      requested_token_type: JWT_TYPE,
    })
    expect(answer.status, answer.text).toBe(200)
    expect(answer.body.issued_token_type).toBe(JWT_TYPE)
    expect(decodeJwt(answer.body.access_token).payload.cnf).toEqual({ jkt: dpop.jkt })
  })

  it('AS20 — a client with bearer_access_tokens still gets a DPoP-bound token from an exchange', async () => {
    const dpop = await Dpop.create()
    const plain = await dpop.post(
      tokenUrl(),
      { grant_type: 'client_credentials' },
      basic('bearer-svc'),
    )
    expect(plain.body.token_type).toBe('Bearer')
    const now = Math.floor(Date.now() / 1000)
    const bound = outside.sign({
      iss: outside.issuer,
      sub: 'outside-user',
      aud: t.issuer,
      client_id: 'outside-app',
      scope: 'read',
      iat: now,
      exp: now + 120,
      cnf: { jkt: dpop.jkt },
    })
    const answer = await exchange('bearer-svc', dpop, bound, { audience: REPORTS })
    expect(answer.status, answer.text).toBe(200)
    expect(answer.body.token_type).toBe('DPoP')
    expect(decodeJwt(answer.body.access_token).payload.cnf).toEqual({ jkt: dpop.jkt })
    // D31: an unbound (Bearer) subject token has no holder; without a rule it is refused.
    expectRefusal(
      await exchange('bearer-svc', dpop, plain.body.access_token, { audience: REPORTS }),
      'invalid_request',
    )
  })

  it('AS24 — another client cannot exchange a bound token without its key (no rule, no may_act)', async () => {
    const owner = await Dpop.create()
    const thief = await Dpop.create()
    const subject = await serviceToken('svc-a', owner)
    expectRefusal(await exchange('svc-x', thief, subject, { audience: REPORTS }), 'invalid_request')
    // The owner's own client with another key is no holder either.
    expectRefusal(await exchange('svc-a', thief, subject, { audience: REPORTS }), 'invalid_request')
  })

  it('AS25, E19 — a scope wider than the subject token is refused with invalid_scope', async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('svc-a', dpop, { scope: 'read' })
    expectRefusal(
      await exchange('svc-a', dpop, subject, { audience: REPORTS, scope: 'read write' }),
      'invalid_scope',
    )
  })

  it('AS26, E18 — a target outside the policy is refused with invalid_target', async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('svc-a', dpop)
    expectRefusal(
      await exchange('svc-a', dpop, subject, { audience: 'https://elsewhere.example/' }),
      'invalid_target',
    )
    expectRefusal(
      await exchange('svc-a', dpop, subject, { resource: 'https://unknown.example/' }),
      'invalid_target',
    )
    expectRefusal(
      await exchange('svc-a', dpop, subject, { resource: API_A, audience: API_B }),
      'invalid_target',
    )
  })

  it('AS27, E17 — a revoked subject token is refused with invalid_request, also after an earlier exchange', async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('svc-a', dpop)
    // Exchanged once first: the server then remembers its checked signature, not its validity.
    const before = await exchange('svc-a', dpop, subject, { audience: REPORTS })
    expect(before.status, before.text).toBe(200)
    const revoked = await postForm(t.url('/revoke'), { token: subject }, basic('svc-a'))
    expect(revoked.status).toBe(200)
    expectRefusal(await exchange('svc-a', dpop, subject, { audience: REPORTS }), 'invalid_request')
  })

  it('AS27, E17 — a refresh token is never a subject token, by type or by value', async () => {
    const dpop = await Dpop.create()
    const { refresh } = await userTokens(dpop)
    expectRefusal(
      await exchange('svc-a', dpop, refresh, {
        subject_token_type: REFRESH_TOKEN,
        audience: REPORTS,
      }),
      'invalid_request',
    )
    expectRefusal(await exchange('svc-a', dpop, refresh, { audience: REPORTS }), 'invalid_request')
  })

  it('E17 — unsupported token types and malformed requests are refused with invalid_request', async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('svc-a', dpop)
    const cases: Record<string, string>[] = [
      { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' },
      { requested_token_type: REFRESH_TOKEN },
      { requested_token_type: 'urn:ietf:params:oauth:token-type:id_token' },
      { actor_token_type: ACCESS_TOKEN },
      { actor_token: subject },
      { actor_token: subject, actor_token_type: 'urn:ietf:params:oauth:token-type:saml1' },
      { subject_token: 'not-a-token' },
    ]
    for (const extra of cases)
      expectRefusal(
        await exchange('svc-a', dpop, subject, { audience: REPORTS, ...extra }),
        'invalid_request',
      )
    const missing = await dpop.post(
      tokenUrl(),
      { grant_type: TOKEN_EXCHANGE_GRANT, subject_token_type: ACCESS_TOKEN },
      basic('svc-a'),
    )
    expectRefusal(missing, 'invalid_request')
  })

  it('dynamic registration refuses the token-exchange grant (acting for others is granted by the operator)', async () => {
    const response = await fetch(t.url('/register'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer initial-access-token-0123456789',
      },
      body: JSON.stringify({
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
        scope: 'read',
      }),
    })
    const body = (await response.json()) as { error?: string; error_description?: string }
    expect([response.status, body.error]).toEqual([400, 'invalid_client_metadata'])
    expect(body.error_description).toMatch(/token exchange is not allowed/)
  })

  it('a client not registered for the grant is refused with unauthorized_client', async () => {
    const dpop = await Dpop.create()
    const subject = await serviceToken('service', dpop)
    expectRefusal(
      await exchange('service', dpop, subject, { audience: REPORTS }),
      'unauthorized_client',
    )
  })

  it('AS22, AS23 — two-hop chain: the resource server sees nested act; a third hop is too deep', async () => {
    const user = await Dpop.create()
    const keyA = await Dpop.create()
    const keyB = await Dpop.create()
    const keyC = await Dpop.create()
    const { access } = await userTokens(user)
    // Hop 1: svc-a acts for the user (rule: svc-a may use public-app's tokens, for API_B only).
    expectRefusal(await exchange('svc-a', keyA, access, { resource: API_C }), 'invalid_target')
    const hop1 = await exchange('svc-a', keyA, access, { resource: API_B })
    expect(hop1.status, hop1.text).toBe(200)
    expect(decodeJwt(hop1.body.access_token).payload).toMatchObject({
      sub: 'user-alice',
      aud: API_B,
      client_id: 'svc-a',
      act: { sub: 'svc-a' },
      cnf: { jkt: keyA.jkt },
    })
    // Hop 2: svc-b acts for svc-a's token; its rule caps the scope at read.
    expectRefusal(
      await exchange('svc-b', keyB, hop1.body.access_token, { resource: API_C, scope: 'write' }),
      'invalid_scope',
    )
    const hop2 = await exchange('svc-b', keyB, hop1.body.access_token, { resource: API_C })
    expect(hop2.status, hop2.text).toBe(200)
    const claims = decodeJwt(hop2.body.access_token).payload
    expect(claims).toMatchObject({
      sub: 'user-alice',
      aud: API_C,
      scope: 'read',
      act: { sub: 'svc-b', act: { sub: 'svc-a' } },
      cnf: { jkt: keyB.jkt },
    })
    // Hop 3 would nest act three deep; maxActDepth is 2.
    expectRefusal(
      await exchange('svc-c', keyC, hop2.body.access_token, { audience: API_D }),
      'invalid_request',
    )

    // The resource server for API_C (@keybound/server, real HTTP) sees act, and the binding holds.
    const seen: unknown[] = []
    let handler: ReturnType<typeof protect> | undefined
    const server = createServer((req, res) => void handler!(req, res))
    const base = (await listen(server)).url
    const resourceServer = createResourceServer({
      publicBaseUrl: base,
      accessTokens: jwtAccessTokens({ issuer: t.issuer, audience: API_C, jwksUri: t.url('/jwks') }),
    })
    handler = protect(resourceServer, (_req, res, identity) => {
      seen.push(identity.claims.act)
      res.end('ok')
    })
    try {
      const url = `${base}/orders`
      const call = async (key: Dpop) =>
        fetch(url, {
          headers: {
            authorization: `DPoP ${hop2.body.access_token}`,
            dpop: await createProof(key.key, {
              htm: 'GET',
              htu: url,
              accessToken: hop2.body.access_token,
            }),
          },
        })
      expect((await call(keyB)).status).toBe(200)
      expect(seen).toEqual([{ sub: 'svc-b', act: { sub: 'svc-a' } }])
      // svc-a's key does not hold svc-b's token.
      expect((await call(keyA)).status).toBe(401)
    } finally {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it("AS22 — a DPoP-bound token's holder may pass it on: the actor named in may_act gets act", async () => {
    const keyX = await Dpop.create()
    const userKey = await Dpop.create()
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: outside.issuer,
      sub: 'outside-user',
      aud: t.issuer,
      client_id: 'outside-app',
      scope: 'read write',
      iat: now,
      exp: now + 120,
      jti: randomBytes(8).toString('hex'),
      cnf: { jkt: userKey.jkt },
    }
    const withMayAct = outside.sign({ ...claims, may_act: { client_id: 'svc-x' } })
    const answer = await exchange('svc-x', keyX, withMayAct, { audience: REPORTS, scope: 'read' })
    expect(answer.status, answer.text).toBe(200)
    expect(decodeJwt(answer.body.access_token).payload).toMatchObject({
      // Namespaced: the partner's user cannot pass for a user of this server.
      sub: `${outside.issuer}#outside-user`,
      act: { sub: 'svc-x' },
      cnf: { jkt: keyX.jkt },
      scope: 'read',
    })
    // Without may_act (and no rule for svc-x), the same token is refused.
    expectRefusal(
      await exchange('svc-x', keyX, outside.sign(claims), { audience: REPORTS }),
      'invalid_request',
    )
  })

  it("AS22 — delegation rules name another issuer's clients with that issuer; `*` covers only this server's", async () => {
    const userKey = await Dpop.create()
    const now = Math.floor(Date.now() / 1000)
    const token = outside.sign({
      iss: outside.issuer,
      sub: 'outside-user',
      aud: t.issuer,
      client_id: 'outside-app',
      scope: 'read',
      iat: now,
      exp: now + 120,
      cnf: { jkt: userKey.jkt },
    })
    const keyB = await Dpop.create()
    const named = await exchange('svc-b', keyB, token, { audience: REPORTS })
    expect(named.status, named.text).toBe(200)
    expect(decodeJwt(named.body.access_token).payload).toMatchObject({
      sub: `${outside.issuer}#outside-user`,
      act: { sub: 'svc-b' },
      cnf: { jkt: keyB.jkt },
    })
    // A local token of svc-a is covered by svc-c's `*` rule; the partner's token is not.
    const keyC = await Dpop.create()
    const local = await serviceToken('svc-a', await Dpop.create())
    const covered = await exchange('svc-c', keyC, local, { audience: REPORTS })
    expect(covered.status, covered.text).toBe(200)
    expectRefusal(await exchange('svc-c', keyC, token, { audience: REPORTS }), 'invalid_request')
  })

  it("AS28 — a trusted issuer's token is checked: holder exchange passes; expired, wrong aud, bad signature, unknown issuer, wrong typ are refused", async () => {
    const holder = await Dpop.create()
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: outside.issuer,
      sub: 'outside-user',
      aud: t.issuer,
      client_id: 'outside-app',
      scope: 'read',
      iat: now,
      exp: now + 60.5, // a NumericDate may carry a fraction
      cnf: { jkt: holder.jkt },
    }
    const good = await exchange('svc-x', holder, outside.sign(claims), { audience: REPORTS })
    expect(good.status, good.text).toBe(200)
    expect(decodeJwt(good.body.access_token).payload.act).toBeUndefined()
    expect(decodeJwt(good.body.access_token).payload.exp).toBe(now + 60)
    expect(good.body.expires_in).toBeLessThanOrEqual(60)
    expect(Number.isInteger(good.body.expires_in)).toBe(true)
    const tampered = outside
      .sign(claims)
      .replace(/\.[^.]+$/, `.${randomBytes(64).toString('base64url')}`)
    const refusals = [
      outside.sign({ ...claims, exp: now - 1 }),
      outside.sign({ ...claims, aud: 'https://someone-else.example/' }),
      tampered,
      outside.sign({ ...claims, iss: 'https://untrusted.example' }),
      outside.sign(claims, { typ: 'JWT' }),
      outside.sign(claims, { kid: 'unknown-kid' }),
    ]
    for (const token of refusals)
      expectRefusal(
        await exchange('svc-x', holder, token, { audience: REPORTS }),
        'invalid_request',
      )
  })
})

describe.each(DATABASES)(
  'token exchange without dpop.required, short-lived tokens, on %s',
  (kind) => {
    let t: TestServer
    let outside: OutsideIssuer

    beforeAll(async () => {
      outside = await startOutsideIssuer()
      t = await startExchangeServer(kind, outside, {
        dpop: { required: false },
        accessTokens: { lifetime: 2 },
      })
    })
    afterAll(async () => {
      await t?.close()
      await outside?.close()
    })

    it('AS20 — an exchange without a DPoP proof is refused even where DPoP is optional', async () => {
      const dpop = await Dpop.create()
      const subject = await dpop.post(
        t.url('/token'),
        { grant_type: 'client_credentials' },
        basic('svc-a'),
      )
      expect(subject.status, subject.text).toBe(200)
      const answer = await postForm(
        t.url('/token'),
        {
          grant_type: TOKEN_EXCHANGE_GRANT,
          subject_token: subject.body.access_token,
          subject_token_type: ACCESS_TOKEN,
          audience: REPORTS,
        },
        basic('svc-a'),
      )
      expect([answer.status, answer.body.error]).toEqual([400, 'invalid_request'])
      expect(answer.body.error_description).toMatch(/DPoP proof is required/)
    })

    it('AS27, E17 — an expired subject token is refused with invalid_request', async () => {
      const dpop = await Dpop.create()
      const subject = await dpop.post(
        t.url('/token'),
        { grant_type: 'client_credentials' },
        basic('svc-a'),
      )
      expect(subject.status, subject.text).toBe(200)
      const form = {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: subject.body.access_token,
        subject_token_type: ACCESS_TOKEN,
        audience: REPORTS,
      }
      // Exchanged once while valid, so the expiry is also checked for a remembered token.
      const first = await dpop.post(t.url('/token'), form, basic('svc-a'))
      expect(first.status, first.text).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 3100))
      const answer = await dpop.post(t.url('/token'), form, basic('svc-a'))
      expect([answer.status, answer.body.error], answer.text).toEqual([400, 'invalid_request'])
      expect(answer.body.error_description).toMatch(/expired/)
    })
  },
)

describe('tokenExchange configuration', () => {
  it('names every bad field by its path', () => {
    let message = ''
    try {
      resolveConfig({
        clients: [
          {
            client_id: 'svc',
            client_secret: SECRET,
            grant_types: ['client_credentials'],
          },
          {
            client_id: 'spa',
            redirect_uris: ['http://127.0.0.1/cb'],
            grant_types: [TOKEN_EXCHANGE_GRANT],
          },
        ],
        tokenExchange: {
          maxActDepth: 0,
          audiences: 'https://api.example/',
          delegation: [
            { actor: 'nobody', subjectClients: [], audiences: ['https://api.example/'] },
            { actor: 'svc', subjectClients: ['*', 'x'.repeat(2049)], scope: 'a  b', extra: 1 },
          ],
          trustedIssuers: [
            { issuer: 'ftp://idp.example', subjectPrefix: 5 },
            {
              issuer: 'https://idp.example',
              jwksUri: 'http://idp.example/jwks',
              jwks: { keys: [] },
            },
            {
              issuer: 'https://idp2.example',
              jwks: { keys: [{ kty: 'EC', d: 'x' }] },
              algorithms: ['HS256'],
            },
            { issuer: 'https://idp3.example/?tenant=1', jwksUri: 'https://idp3.example/jwks' },
            { issuer: 'https://idp4.example', jwksUri: 'https://idp4.example/jwks' },
            { issuer: 'https://idp4.example', jwksUri: 'https://idp4.example/jwks' },
          ],
          unknown: true,
        },
      })
    } catch (error) {
      message = (error as Error).message
    }
    for (const issue of [
      'clients[1].grant_types: token exchange needs an authenticated (confidential) client',
      'tokenExchange.unknown: is not a known setting',
      'tokenExchange.maxActDepth: must be a whole number from 1 to 8',
      'tokenExchange.audiences: must be an array',
      'tokenExchange.delegation[0].actor: is not a configured client',
      'tokenExchange.delegation[0].subjectClients: must be a non-empty array',
      "tokenExchange.delegation[1].actor: the client's grant_types lack",
      'tokenExchange.delegation[1].subjectClients[1]: must be a non-empty string of at most 2048',
      'tokenExchange.delegation[1].audiences: is required',
      'tokenExchange.delegation[1].scope: must be space-separated scope tokens',
      'tokenExchange.delegation[1].extra: is not a known setting',
      'tokenExchange.trustedIssuers[0].issuer: must be an absolute https URL or loopback http',
      'tokenExchange.trustedIssuers[0]: needs exactly one of jwksUri, jwks',
      'tokenExchange.trustedIssuers[0].subjectPrefix: must be a string of at most 256 characters',
      'tokenExchange.trustedIssuers[1].jwksUri: must be an absolute https URL or loopback http',
      'tokenExchange.trustedIssuers[1]: needs exactly one of jwksUri, jwks',
      'tokenExchange.trustedIssuers[1].jwks.keys: must be a non-empty array',
      'tokenExchange.trustedIssuers[2].jwks.keys[0]: must be a public key',
      'tokenExchange.trustedIssuers[2].algorithms[0]: must be one of',
      'tokenExchange.trustedIssuers[3].issuer: must not contain a query',
      'tokenExchange.trustedIssuers[5].issuer: is listed twice',
    ])
      expect(message).toContain(issue)
  })
})

type Grant =
  | { kind: 'client_credentials'; client: string }
  | { kind: 'authorization_code'; client: string }
  | { kind: 'refresh_token' }
  | { kind: 'token_exchange'; client: string; delegated: boolean }

// Clients whose operator asked for Bearer tokens (bearer_access_tokens) keep that choice on the
// other grants (RFC 9449 §5 lets the server decide); on token exchange they are included.
const GRANTS: fc.Arbitrary<Grant> = fc.oneof(
  fc.record({
    kind: fc.constant('client_credentials' as const),
    client: fc.constantFrom('service', 'opaque-service', 'svc-a'),
  }),
  fc.record({
    kind: fc.constant('authorization_code' as const),
    client: fc.constantFrom('public-app', 'confidential-app'),
  }),
  fc.record({ kind: fc.constant('refresh_token' as const) }),
  fc.record({
    kind: fc.constant('token_exchange' as const),
    client: fc.constantFrom('svc-a', 'bearer-svc'),
    delegated: fc.boolean(),
  }),
)

describe.each(DATABASES)(
  'AS29 — no token issued for a DPoP request lacks cnf (property, all grants) on %s',
  (kind) => {
    let t: TestServer
    let outside: OutsideIssuer
    const tokenUrl = () => t.url('/token')

    beforeAll(async () => {
      outside = await startOutsideIssuer()
      t = await startExchangeServer(kind, outside, {
        resources: [{ identifier: API_A }, { identifier: API_B, accessTokenFormat: 'opaque' }],
        tokenExchange: {
          audiences: [REPORTS],
          delegation: [
            { actor: 'svc-a', subjectClients: ['public-app'], audiences: [API_A, API_B, REPORTS] },
            {
              actor: 'bearer-svc',
              subjectClients: ['public-app'],
              audiences: [API_A, API_B, REPORTS],
            },
          ],
        },
      })
    })
    afterAll(async () => {
      await t?.close()
      await outside?.close()
    })

    const confidential = (client: string) => (client === 'public-app' ? {} : basic(client))

    async function codeTokens(client: string, dpop: Dpop, extra: Record<string, string>) {
      const { code, verifier } = await getCode(t.issuer, client, { dpop_jkt: dpop.jkt })
      return dpop.post(
        tokenUrl(),
        { ...codeForm(client, code, verifier), ...extra },
        confidential(client),
      )
    }

    async function request(
      grant: Grant,
      dpop: Dpop,
      extra: Record<string, string>,
    ): Promise<Answer> {
      switch (grant.kind) {
        case 'client_credentials':
          return dpop.post(
            tokenUrl(),
            { grant_type: 'client_credentials', ...extra },
            basic(grant.client),
          )
        case 'authorization_code':
          return codeTokens(grant.client, dpop, {})
        case 'refresh_token': {
          const first = await codeTokens('public-app', dpop, {})
          return dpop.post(tokenUrl(), {
            grant_type: 'refresh_token',
            client_id: 'public-app',
            refresh_token: first.body.refresh_token,
            ...extra,
          })
        }
        case 'token_exchange': {
          // Holder: the subject is bound to the same key. Delegated: a user's token under another key.
          const owner = grant.delegated ? await Dpop.create() : dpop
          const subject = grant.delegated
            ? (await codeTokens('public-app', owner, {})).body.access_token
            : outside.sign({
                iss: outside.issuer,
                sub: 'outside-user',
                aud: t.issuer,
                client_id: 'outside-app',
                scope: 'read write',
                iat: Math.floor(Date.now() / 1000),
                exp: Math.floor(Date.now() / 1000) + 120,
                cnf: { jkt: dpop.jkt },
              })
          return dpop.post(
            tokenUrl(),
            {
              grant_type: TOKEN_EXCHANGE_GRANT,
              subject_token: subject,
              subject_token_type: ACCESS_TOKEN,
              ...(extra.resource === undefined ? { audience: REPORTS } : {}),
              ...extra,
            },
            basic(grant.client),
          )
        }
      }
    }

    async function boundKeyOf(token: string): Promise<string | undefined> {
      if (token.split('.').length === 3) return decodeJwt(token).payload.cnf?.jkt
      const info = await postForm(t.url('/introspect'), { token }, basic('resource-server'))
      return info.body.cnf?.jkt
    }

    it('holds for generated grants, scopes and resources', async () => {
      let issued = 0
      await fc.assert(
        fc.asyncProperty(
          GRANTS,
          fc.subarray(['read', 'write']),
          fc.constantFrom(undefined, API_A, API_B),
          async (grant, scopes, resource) => {
            const dpop = await Dpop.create()
            const extra: Record<string, string> = {
              ...(scopes.length === 0 ? {} : { scope: scopes.join(' ') }),
              ...(resource === undefined ? {} : { resource }),
            }
            const answer = await request(grant, dpop, extra)
            if (answer.status !== 200) return
            issued++
            expect(answer.body.token_type).toBe('DPoP')
            expect(await boundKeyOf(answer.body.access_token)).toBe(dpop.jkt)
          },
        ),
        { numRuns: 24 },
      )
      // The property is about issued tokens: most generated requests must have issued one.
      expect(issued).toBeGreaterThan(12)
    })
  },
)
