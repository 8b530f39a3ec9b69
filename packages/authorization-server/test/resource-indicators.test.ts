/**
 * RFC 8707 resource indicators: the token is made for the API the client names, with that API's
 * `aud` and, per resource, an opaque format for APIs that introspect. Unknown resources are
 * refused with `invalid_target`; a code or refresh token keeps the resource it was granted for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '@keybound/authorization-server'
import {
  basic,
  codeForm,
  DATABASES,
  decodeJwt,
  Dpop,
  getCode,
  postForm,
  startServer,
  type TestServer,
} from './support.js'

const JWT_API = 'https://api.example.com/'
const OPAQUE_API = 'https://legacy.example.com/'

describe.each(DATABASES)('resource indicators (RFC 8707) on %s', (kind) => {
  let t: TestServer
  const tokenUrl = () => t.url('/token')

  beforeAll(async () => {
    t = await startServer(kind, {
      resources: [{ identifier: JWT_API }, { identifier: OPAQUE_API, accessTokenFormat: 'opaque' }],
    })
  })
  afterAll(async () => {
    await t?.close()
  })

  const clientCredentials = (dpop: Dpop, extra: Record<string, string>) =>
    dpop.post(tokenUrl(), { grant_type: 'client_credentials', ...extra }, basic('service'))

  const introspect = (token: string) =>
    postForm(t.url('/introspect'), { token }, basic('resource-server'))

  it('client_credentials: a JWT for the named API has it as aud; no resource keeps the default', async () => {
    const dpop = await Dpop.create()
    const named = await clientCredentials(dpop, { resource: JWT_API })
    expect(named.status, named.text).toBe(200)
    expect(decodeJwt(named.body.access_token).payload).toMatchObject({
      aud: JWT_API,
      cnf: { jkt: dpop.jkt },
    })
    const plain = await clientCredentials(dpop, {})
    expect(decodeJwt(plain.body.access_token).payload.aud).not.toBe(JWT_API)
  })

  it('client_credentials: a resource configured as opaque gets an opaque token, bound and introspectable', async () => {
    const dpop = await Dpop.create()
    const answer = await clientCredentials(dpop, { resource: OPAQUE_API })
    expect(answer.status, answer.text).toBe(200)
    expect(answer.body.token_type).toBe('DPoP')
    expect(answer.body.access_token.split('.')).toHaveLength(1)
    const info = await introspect(answer.body.access_token)
    expect(info.body).toMatchObject({
      active: true,
      aud: OPAQUE_API,
      token_type: 'DPoP',
      cnf: { jkt: dpop.jkt },
    })
  })

  it('refuses an unknown resource with invalid_target, and issues nothing', async () => {
    const dpop = await Dpop.create()
    const answer = await clientCredentials(dpop, { resource: 'https://other.example.com/' })
    expect([answer.status, answer.body.error]).toEqual([400, 'invalid_target'])
    expect(answer.body.access_token).toBeUndefined()
  })

  it('authorization code: the resource named at /authorize binds the code, refresh keeps it, and it cannot be changed', async () => {
    const dpop = await Dpop.create()
    const { code, verifier } = await getCode(t.issuer, 'public-app', {
      resource: OPAQUE_API,
      dpop_jkt: dpop.jkt,
    })
    const changed = await dpop.post(tokenUrl(), {
      ...codeForm('public-app', code, verifier),
      resource: JWT_API,
    })
    expect([changed.status, changed.body.error]).toEqual([400, 'invalid_target'])
    // The refused request consumed nothing: the same code still works with the granted resource.
    const tokens = await dpop.post(tokenUrl(), codeForm('public-app', code, verifier))
    expect(tokens.status, tokens.text).toBe(200)
    expect(tokens.body.access_token.split('.')).toHaveLength(1)
    expect((await introspect(tokens.body.access_token)).body).toMatchObject({
      active: true,
      aud: OPAQUE_API,
    })
    const refreshed = await dpop.post(tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: 'public-app',
      refresh_token: tokens.body.refresh_token,
    })
    expect(refreshed.status, refreshed.text).toBe(200)
    expect((await introspect(refreshed.body.access_token)).body).toMatchObject({
      active: true,
      aud: OPAQUE_API,
      cnf: { jkt: dpop.jkt },
    })
  })

  it('refuses an unknown resource at /authorize with invalid_target at the redirect URI', async () => {
    await expect(
      getCode(t.issuer, 'public-app', { resource: 'https://other.example.com/' }),
    ).rejects.toThrow(/invalid_target/)
  })
})

describe('resources configuration', () => {
  it('names a bad resource entry', () => {
    expect(() =>
      resolveConfig({
        resources: [
          { identifier: 'https://api.example.com/#frag' },
          { identifier: 'not a url' },
          { identifier: 'https://x.example/', accessTokenFormat: 'paseto' },
        ],
      }),
    ).toThrow(
      /resources\[0\]\.identifier: must not contain a fragment[\s\S]*resources\[1\]\.identifier[\s\S]*resources\[2\]\.accessTokenFormat/,
    )
  })
})
