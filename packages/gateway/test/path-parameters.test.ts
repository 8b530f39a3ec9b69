/**
 * `;` path parameters: servlet containers and Spring cut `;…` from a segment before mapping it
 * (some after decoding `%3B`), so `/admin;x/secret` is their `/admin/secret`. In front of
 * `/admin` (protected) and `/` (public), the gateway must never forward such a path as public.
 * The upstream behind it records what arrives.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { resolveGatewayConfig } from '../src/index.js'
import { send } from './support/http.js'
import {
  baseConfig,
  dpopHeaders,
  startHarness,
  type Harness,
  type RunningGateway,
} from './support/fixture.js'

let harness: Harness
let adminToken: string
let readerToken: string
let refusing: RunningGateway
let stripping: RunningGateway

const ROUTES = [
  { prefix: '/admin', scopes: ['admin'] },
  { prefix: '/', public: true },
]

const DISGUISED = [
  '/admin;x/secret',
  '/admin;/secret',
  '/admin%3Bjsessionid=1/secret',
  '/admin%3bjsessionid=1/secret',
  '/admin;jsessionid=1',
]

beforeAll(async () => {
  harness = await startHarness({ scope: 'admin' })
  adminToken = harness.token
  readerToken = await harness.issuer.mint({ scope: 'items:read', jkt: harness.key.jkt })
  refusing = await harness.gateway({ routes: ROUTES })
  stripping = await harness.gateway({ routes: ROUTES, paths: { semicolons: 'strip' } })
})

afterAll(() => harness.close())

let hitsBefore = 0
beforeEach(() => {
  hitsBefore = harness.upstream.hits()
})

describe('paths.semicolons: refuse (the default)', () => {
  it('answers 400 invalid_path to a ; or %3B in any segment, with or without credentials', async () => {
    for (const path of [...DISGUISED, '/public;x', '/a/b%3B']) {
      const bare = await send(`${refusing.url}${path}`)
      expect(bare.status, path).toBe(400)
      expect(JSON.parse(bare.text)).toEqual({ error: 'invalid_path' })
      const signed = await send(`${refusing.url}${path}`, {
        headers: await dpopHeaders(harness.key, adminToken, 'GET', path),
      })
      expect(signed.status, path).toBe(400)
    }
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('still forwards a ; in the query, which names no path', async () => {
    const response = await send(`${refusing.url}/docs?a=1;b=2`)
    expect(response.status).toBe(200)
    expect(harness.upstream.received.at(-1)!.url).toBe('/docs?a=1;b=2')
  })
})

describe('paths.semicolons: strip', () => {
  it('matches each segment without its parameters: no credentials is 401, never forwarded', async () => {
    for (const path of DISGUISED) {
      const response = await send(`${stripping.url}${path}`)
      expect(response.status, path).toBe(401)
      expect(response.headers['www-authenticate']).toBe('DPoP algs="ES256"')
    }
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('asks for the admin scope, as for /admin/secret', async () => {
    for (const path of DISGUISED) {
      const response = await send(`${stripping.url}${path}`, {
        headers: await dpopHeaders(harness.key, readerToken, 'GET', path),
      })
      expect(response.status, path).toBe(403)
    }
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('forwards the path unchanged once the admin token is checked', async () => {
    for (const path of DISGUISED) {
      const response = await send(`${stripping.url}${path}`, {
        headers: await dpopHeaders(harness.key, adminToken, 'GET', path),
      })
      expect(response.status, path).toBe(200)
      expect(harness.upstream.received.at(-1)!.url).toBe(path)
      expect(harness.upstream.received.at(-1)!.headers['x-keybound-scope']).toBe('admin')
    }
  })

  it('still refuses what is ambiguous once the parameters are cut', async () => {
    for (const path of ['/;x/admin/secret', '/admin/..;x/y', '/admin/.;x/secret', '/%3Bx/admin']) {
      const response = await send(`${stripping.url}${path}`)
      expect(response.status, path).toBe(400)
    }
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })
})

it('paths.semicolons: a bad value is named by its path', () => {
  expect(() =>
    resolveGatewayConfig(
      baseConfig(harness.issuer, harness.upstream, { paths: { semicolons: 'allow', x: 1 } }),
    ),
  ).toThrow(
    /paths\.x: is not a known setting[\s\S]*paths\.semicolons: must be one of refuse, strip/,
  )
})
