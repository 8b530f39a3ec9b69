/**
 * Who may introspect what (RFC 7662 §4): the token's own client, a client whose `client_id` is
 * the token's `aud`, and clients the operator marks with `resource_server` (every token, or the
 * audiences listed). Every other confidential client gets exactly `{"active":false}`, the
 * answer for an unknown token. `/introspect` has its own rate limit per client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/index.js'
import { configIssues } from './instances.js'
import {
  baseClients,
  basic,
  DATABASES,
  Dpop,
  getCode,
  codeForm,
  postForm,
  SECRET,
  startServer,
  type TestServer,
} from './support.js'

const BILLING = 'https://billing.example.com/'
const REPORTS = 'https://reports.example.com/'

const EXTRA_CLIENTS = [
  // A confidential client that is nobody's resource server.
  { client_id: 'resource-nosy', client_secret: SECRET, grant_types: ['client_credentials'] },
  // A resource server limited to the billing API's tokens.
  {
    client_id: 'billing-api',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    resource_server: [BILLING],
  },
  // A resource server registered under its API's identifier: tokens for it carry it as aud.
  { client_id: REPORTS, client_secret: SECRET, grant_types: ['client_credentials'] },
]

describe.each(DATABASES)('introspection access on %s', (kind) => {
  let t: TestServer
  let jwtToken: string
  let opaqueToken: string
  let billingToken: string
  let reportsToken: string

  const introspect = (token: string, clientId: string) =>
    postForm(t.url('/introspect'), { token }, basic(clientId))

  beforeAll(async () => {
    t = await startServer(kind, {
      clients: [...baseClients(), ...EXTRA_CLIENTS],
      resources: [{ identifier: BILLING }, { identifier: REPORTS, accessTokenFormat: 'opaque' }],
      rateLimits: { introspect: { max: 40, windowSeconds: 60 } },
    })
    const dpop = await Dpop.create()
    const issue = async (clientId: string, extra: Record<string, string> = {}) => {
      const answer = await dpop.post(
        t.url('/token'),
        { grant_type: 'client_credentials', ...extra },
        basic(clientId),
      )
      expect(answer.status, answer.text).toBe(200)
      return answer.body.access_token as string
    }
    jwtToken = await issue('service')
    opaqueToken = await issue('opaque-service')
    billingToken = await issue('service', { resource: BILLING })
    reportsToken = await issue('service', { resource: REPORTS })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('another confidential client learns nothing: {"active":false}, as for an unknown token', async () => {
    for (const token of [jwtToken, opaqueToken, billingToken, reportsToken]) {
      const answer = await introspect(token, 'resource-nosy')
      expect([answer.status, answer.body]).toEqual([200, { active: false }])
    }
    expect((await introspect('unknown', 'resource-nosy')).body).toEqual({ active: false })
  })

  it('the token’s own client sees it', async () => {
    expect((await introspect(jwtToken, 'service')).body).toMatchObject({
      active: true,
      client_id: 'service',
    })
    expect((await introspect(opaqueToken, 'opaque-service')).body.active).toBe(true)
  })

  it('a client marked resource_server: true sees every access token', async () => {
    for (const token of [jwtToken, opaqueToken, billingToken, reportsToken])
      expect((await introspect(token, 'resource-server')).body.active).toBe(true)
  })

  it('a resource server limited to audiences sees only their tokens', async () => {
    expect((await introspect(billingToken, 'billing-api')).body).toMatchObject({
      active: true,
      aud: BILLING,
    })
    for (const token of [jwtToken, opaqueToken, reportsToken])
      expect((await introspect(token, 'billing-api')).body).toEqual({ active: false })
  })

  it('a client whose client_id is the token’s aud sees it, and nothing else', async () => {
    expect((await introspect(reportsToken, REPORTS)).body).toMatchObject({
      active: true,
      aud: REPORTS,
    })
    for (const token of [jwtToken, opaqueToken, billingToken])
      expect((await introspect(token, REPORTS)).body).toEqual({ active: false })
  })

  it('a refresh token is described only to its own client, resource servers included', async () => {
    const dpop = await Dpop.create()
    const { code, verifier } = await getCode(t.issuer, 'confidential-app')
    const tokens = await dpop.post(
      t.url('/token'),
      codeForm('confidential-app', code, verifier),
      basic('confidential-app'),
    )
    expect(tokens.status, tokens.text).toBe(200)
    const refresh = tokens.body.refresh_token as string
    expect((await introspect(refresh, 'resource-server')).body).toEqual({ active: false })
    expect((await introspect(refresh, 'confidential-app')).body.active).toBe(true)
  })
})

describe('introspection rate limit', () => {
  let t: TestServer
  beforeAll(async () => {
    t = await startServer('sqlite', { rateLimits: { introspect: { max: 3, windowSeconds: 60 } } })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('429 with Retry-After past rateLimits.introspect.max for one client; others go on', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++)
      statuses.push(
        (await postForm(t.url('/introspect'), { token: 'x' }, basic('resource-server'))).status,
      )
    expect(statuses).toEqual([200, 200, 200, 429])
    const limited = await postForm(t.url('/introspect'), { token: 'x' }, basic('resource-server'))
    expect(limited.body).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'too many introspection requests, try again later',
    })
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // Counted once authenticated: another client is not affected, and naming the client with
    // a wrong secret is a 401 that spends nothing of any budget.
    expect((await postForm(t.url('/introspect'), { token: 'x' }, basic('service'))).status).toBe(
      200,
    )
    const guessed = await postForm(
      t.url('/introspect'),
      { token: 'x' },
      basic('service', 'wrong-secret-0000'),
    )
    expect([guessed.status, guessed.body.error]).toEqual([401, 'invalid_client'])
    for (let i = 0; i < 2; i++)
      expect((await postForm(t.url('/introspect'), { token: 'x' }, basic('service'))).status).toBe(
        200,
      )
  })
})

describe('resource_server setting', () => {
  it('names every bad value with its path', () => {
    const client = { client_id: 'rs', client_secret: SECRET, grant_types: ['client_credentials'] }
    const issues = configIssues({
      clients: [
        { ...client, resource_server: 'yes' },
        { ...client, client_id: 'rs2', resource_server: [] },
        { ...client, client_id: 'rs3', resource_server: ['not a url', BILLING] },
        { client_id: 'public', redirect_uris: ['https://app.example/cb'], resource_server: true },
      ],
    })
    expect(issues).toEqual([
      'clients[0].resource_server: must be true, false or a non-empty array of audiences',
      'clients[1].resource_server: must be true, false or a non-empty array of audiences',
      'clients[2].resource_server[0]: must be an absolute http or https URL',
      'clients[3].resource_server: needs an authenticated (confidential) client',
    ])
    const config = resolveConfig({
      clients: [
        { ...client, resource_server: true },
        { ...client, client_id: 'rs2', resource_server: [BILLING] },
        { ...client, client_id: 'rs3', resource_server: false },
      ],
    })
    expect(config.clients.map((entry) => entry.resource_server)).toEqual([
      true,
      [BILLING],
      undefined,
    ])
  })
})
