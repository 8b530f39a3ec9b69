/**
 * The gateway in front of a real upstream on loopback: what an accepted request carries to the
 * upstream, and that every refusal is answered by the gateway with the exact challenge and
 * never reaches the upstream.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createProof } from '@keybound/core'
import { GatewayConfigError, resolveGatewayConfig } from '../src/index.js'
import { send } from './support/http.js'
import {
  baseConfig,
  clientKey,
  dpopHeaders,
  PUBLIC_BASE,
  startGateway,
  type RunningGateway,
  startHarness,
  type Harness,
} from './support/fixture.js'

let harness: Harness
let running: RunningGateway

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', clientId: 'app-1', scope: 'items:read items:write' })
  running = await harness.gateway()
})

afterAll(async () => {
  await harness?.close()
})

let hitsBefore = 0
beforeEach(() => {
  hitsBefore = harness.upstream.hits()
})

const last = () => harness.upstream.received.at(-1)!

describe('accepted requests', () => {
  it('arrive with the identity headers and without Authorization or DPoP', async () => {
    const response = await send(`${running.url}/items/42?page=2`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/42'),
    })
    expect(response.status).toBe(200)
    expect(response.headers['x-upstream']).toBe('yes')
    expect(harness.upstream.hits()).toBe(hitsBefore + 1)
    const received = last()
    expect(received.url).toBe('/items/42?page=2')
    expect(received.headers['x-keybound-subject']).toBe('alice')
    expect(received.headers['x-keybound-client-id']).toBe('app-1')
    expect(received.headers['x-keybound-scope']).toBe('items:read items:write')
    expect(received.headers['x-keybound-jkt']).toBe(harness.key.jkt)
    expect(received.headers.authorization).toBeUndefined()
    expect(received.headers.dpop).toBeUndefined()
    expect(received.headers['x-forwarded-proto']).toBe('https')
    expect(received.headers['x-forwarded-host']).toBe(new URL(PUBLIC_BASE).host)
    expect(received.headers['x-forwarded-for']).toBe('127.0.0.1')
  })

  it('strips identity headers a client forged, on protected and on public routes', async () => {
    const forged: Array<[string, string]> = [
      ['x-keybound-subject', 'mallory'],
      ['X-Keybound-Subject', 'mallory-again'],
      ['x-keybound-client-id', 'evil-app'],
      ['x-keybound-scope', 'admin'],
      ['x-keybound-jkt', 'forged-jkt'],
      ['x-forwarded-for', '10.6.6.6'],
      ['x-forwarded-host', 'evil.example'],
    ]
    const accepted = await send(`${running.url}/items/7`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/7', forged),
    })
    expect(accepted.status).toBe(200)
    expect(last().headers['x-keybound-subject']).toBe('alice')
    expect(last().headers['x-keybound-client-id']).toBe('app-1')
    expect(last().headers['x-keybound-scope']).toBe('items:read items:write')
    expect(last().headers['x-keybound-jkt']).toBe(harness.key.jkt)
    expect(last().headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(last().headers['x-forwarded-host']).toBe('api.example.test')

    const publicCall = await send(`${running.url}/public/info`, { headers: forged })
    expect(publicCall.status).toBe(200)
    for (const name of [
      'x-keybound-subject',
      'x-keybound-client-id',
      'x-keybound-scope',
      'x-keybound-jkt',
    ])
      expect(last().headers[name]).toBeUndefined()
  })

  it('forwards public routes without credentials, and strips credentials sent to them', async () => {
    const response = await send(`${running.url}/public/readme`, {
      headers: [
        ['authorization', `DPoP ${harness.token}`],
        ['dpop', 'not-a-proof'],
      ],
    })
    expect(response.status).toBe(200)
    expect(last().url).toBe('/public/readme')
    expect(last().headers.authorization).toBeUndefined()
    expect(last().headers.dpop).toBeUndefined()
  })

  it('drops hop-by-hop headers both ways', async () => {
    const response = await send(`${running.url}/hop`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/hop', [
        ['connection', 'x-client-hop'],
        ['x-client-hop', 'secret'],
        ['proxy-authorization', 'Basic Zm9vOmJhcg=='],
        ['te', 'trailers'],
        ['x-end-to-end', 'kept'],
      ]),
    })
    expect(response.status).toBe(200)
    expect(last().headers['x-client-hop']).toBeUndefined()
    expect(last().headers['proxy-authorization']).toBeUndefined()
    expect(last().headers.te).toBeUndefined()
    expect(last().headers['x-end-to-end']).toBe('kept')
    expect(response.headers['x-upstream-hop']).toBeUndefined()
    // The upstream's `Keep-Alive: timeout=5` is its own; the gateway may send its own value.
    expect(response.headers['keep-alive']).not.toBe('timeout=5')
    expect(response.headers['x-kept']).toBe('yes')
  })

  it('forwards a POST body with its Content-Length', async () => {
    const body = JSON.stringify({ name: 'widget' })
    const response = await send(`${running.url}/upload`, {
      method: 'POST',
      headers: await dpopHeaders(harness.key, harness.token, 'POST', '/upload', [
        ['content-type', 'application/json'],
      ]),
      body,
    })
    expect(response.status).toBe(200)
    expect(JSON.parse(response.text)).toMatchObject({
      method: 'POST',
      bytes: Buffer.byteLength(body),
    })
    expect(last().headers['content-type']).toBe('application/json')
    expect(last().headers['content-length']).toBe(String(Buffer.byteLength(body)))
  })
})

describe('refusals never reach the upstream', () => {
  const algs = 'algs="ES256"'

  async function expectRefused(
    path: string,
    init: Parameters<typeof send>[1],
    status: number,
    wwwAuthenticate: string | undefined,
  ): Promise<Awaited<ReturnType<typeof send>>> {
    const response = await send(`${running.url}${path}`, init)
    expect(response.status).toBe(status)
    expect(response.headers['www-authenticate']).toBe(wwwAuthenticate)
    expect(harness.upstream.hits()).toBe(hitsBefore)
    return response
  }

  it('no credentials: 401 with the bare DPoP challenge and no error', async () => {
    const response = await expectRefused('/items/1', {}, 401, `DPoP ${algs}`)
    expect(response.text).toBe('')
  })

  it('a bad proof (wrong htu): 401 invalid_dpop_proof', async () => {
    const proof = await createProof(harness.key, {
      htm: 'GET',
      htu: `${PUBLIC_BASE}/items/2`,
      accessToken: harness.token,
    })
    const response = await expectRefused(
      '/items/1',
      {
        headers: [
          ['authorization', `DPoP ${harness.token}`],
          ['dpop', proof],
        ],
      },
      401,
      `DPoP error="invalid_dpop_proof", error_description="DPoP proof htu mismatch", ${algs}`,
    )
    expect(JSON.parse(response.text)).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof htu mismatch',
    })
  })

  it('a missing proof: 401 invalid_dpop_proof', async () => {
    await expectRefused(
      '/items/1',
      { headers: [['authorization', `DPoP ${harness.token}`]] },
      401,
      `DPoP error="invalid_dpop_proof", error_description="Missing DPoP proof", ${algs}`,
    )
  })

  it('a replayed proof: accepted once, then 401', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/3')
    expect((await send(`${running.url}/items/3`, { headers })).status).toBe(200)
    hitsBefore = harness.upstream.hits()
    await expectRefused(
      '/items/3',
      { headers },
      401,
      `DPoP error="invalid_dpop_proof", error_description="DPoP proof already used", ${algs}`,
    )
  })

  it('a proof signed by another key: 401 invalid_token (RFC 9449 Fig. 16)', async () => {
    const other = await clientKey()
    await expectRefused(
      '/items/1',
      { headers: await dpopHeaders(other, harness.token, 'GET', '/items/1') },
      401,
      `DPoP error="invalid_token", error_description="Invalid DPoP key binding", ${algs}`,
    )
  })

  it('a bound token sent as Bearer: 401 with the error on the Bearer challenge', async () => {
    await expectRefused(
      '/items/1',
      { headers: [['authorization', `Bearer ${harness.token}`]] },
      401,
      `Bearer error="invalid_token", error_description="Bearer tokens are not accepted", DPoP ${algs}`,
    )
    // Where unbound Bearer tokens are allowed, a bound one is still refused as Bearer (§7.2).
    const lenient = await startGateway(
      baseConfig(harness.issuer, harness.upstream, { allowBearer: true }),
    )
    try {
      const response = await send(`${lenient.url}/items/1`, {
        headers: [['authorization', `Bearer ${harness.token}`]],
      })
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toBe(
        `Bearer error="invalid_token", error_description="DPoP-bound access token requires the DPoP scheme", DPoP ${algs}`,
      )
      expect(harness.upstream.hits()).toBe(hitsBefore)
    } finally {
      await lenient.gateway.close()
    }
  })

  it('a token without the route scope: 403 insufficient_scope', async () => {
    await expectRefused(
      '/admin/users',
      { headers: await dpopHeaders(harness.key, harness.token, 'GET', '/admin/users') },
      403,
      `DPoP error="insufficient_scope", error_description="Insufficient scope", scope="admin", ${algs}`,
    )
  })

  it('an unknown route: 404, even with valid credentials', async () => {
    const response = await expectRefused(
      '/nowhere',
      { headers: await dpopHeaders(harness.key, harness.token, 'GET', '/nowhere') },
      404,
      undefined,
    )
    expect(JSON.parse(response.text)).toEqual({ error: 'not_found' })
  })

  it('a method the route does not allow: 405 with Allow', async () => {
    const response = await expectRefused(
      '/upload',
      { headers: await dpopHeaders(harness.key, harness.token, 'GET', '/upload') },
      405,
      undefined,
    )
    expect(response.headers.allow).toBe('POST, PUT')
  })

  it('paths an upstream could read differently: 400', async () => {
    for (const path of [
      '/public/../admin/x',
      '/public/%2e%2e/admin/x',
      '/public/a%2fb',
      '/public//x',
      '/public/..;x/y',
    ]) {
      await expectRefused(path, {}, 400, undefined)
    }
  })

  it('matches routes on the decoded path, so encoding cannot dodge a protected route', async () => {
    // `/%61dmin` is `/admin` to the upstream; it must need the admin scope, not fall through.
    await expectRefused(
      '/%61dmin/users',
      { headers: await dpopHeaders(harness.key, harness.token, 'GET', '/%61dmin/users') },
      403,
      `DPoP error="insufficient_scope", error_description="Insufficient scope", scope="admin", ${algs}`,
    )
  })

  it('the gateway admin prefix: never forwarded', async () => {
    await expectRefused(
      '/_keybound/anything',
      {
        method: 'POST',
        headers: await dpopHeaders(harness.key, harness.token, 'POST', '/_keybound/anything'),
      },
      404,
      undefined,
    )
  })

  it('an oversized body (Content-Length): 413 before any upstream contact', async () => {
    const small = await startGateway(
      baseConfig(harness.issuer, harness.upstream, { limits: { bodyBytes: 1024 } }),
    )
    try {
      const response = await send(`${small.url}/upload`, {
        method: 'POST',
        headers: await dpopHeaders(harness.key, harness.token, 'POST', '/upload', [
          ['content-type', 'application/octet-stream'],
        ]),
        body: Buffer.alloc(64 * 1024),
      })
      expect(response.status).toBe(413)
      expect(harness.upstream.hits()).toBe(hitsBefore)
    } finally {
      await small.gateway.close()
    }
  })

  it('headers over limits.headerBytes: 431 from the gateway', async () => {
    await expectRefused('/items/1', { headers: [['x-big', 'a'.repeat(20 * 1024)]] }, 431, undefined)
  })
})

describe('nonces', () => {
  it('asks for an RS nonce with use_dpop_nonce, then accepts a proof that carries it', async () => {
    const env = { GATEWAY_NONCE_SECRET: 'n'.repeat(40) }
    const strict = await startGateway(
      baseConfig(harness.issuer, harness.upstream, {
        nonces: { secretEnv: 'GATEWAY_NONCE_SECRET' },
      }),
      { env },
    )
    try {
      const first = await send(`${strict.url}/items/1`, {
        headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1'),
      })
      expect(first.status).toBe(401)
      expect(first.headers['www-authenticate']).toBe(
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256"',
      )
      expect(first.headers['cache-control']).toBe('no-store')
      const nonce = first.headers['dpop-nonce'] as string
      expect(nonce).toMatch(/^[\w.-]+$/)
      expect(harness.upstream.hits()).toBe(hitsBefore)
      const proof = await createProof(harness.key, {
        htm: 'GET',
        htu: `${PUBLIC_BASE}/items/1`,
        accessToken: harness.token,
        nonce,
      })
      const second = await send(`${strict.url}/items/1`, {
        headers: [
          ['authorization', `DPoP ${harness.token}`],
          ['dpop', proof],
        ],
      })
      expect(second.status).toBe(200)
      expect(harness.upstream.hits()).toBe(hitsBefore + 1)
    } finally {
      await strict.gateway.close()
    }
  })
})

describe('operations', () => {
  it('serves /healthz under the admin prefix, and no metrics on the public listener', async () => {
    const health = await send(`${running.url}/_keybound/healthz`)
    expect(health.status).toBe(200)
    expect(JSON.parse(health.text)).toEqual({ status: 'ok', replay: 'ready' })
    const metrics = await send(`${running.url}/_keybound/metrics`)
    expect(metrics.status).toBe(404)
    expect(JSON.parse(metrics.text)).toEqual({ error: 'not_found' })
    expect(harness.upstream.hits()).toBe(hitsBefore)
  })

  it('never writes a token or a proof to its logs', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/9')
    const proof = headers.find(([name]) => name === 'dpop')![1]
    await send(`${running.url}/items/9?access_token=${harness.token}`, { headers })
    await send(`${running.url}/items/9`, { headers })
    await send(`${running.url}/items/9`, {
      headers: [['authorization', `Bearer ${harness.token}`]],
    })
    const text = running.logs.join('')
    expect(running.logs.length).toBeGreaterThan(5)
    expect(text).toContain('"outcome":"accepted"')
    expect(text).toContain('"reason":"ERR_DPOP_REPLAYED"')
    expect(text).not.toContain(harness.token)
    expect(text).not.toContain(proof)
    expect(text).not.toContain(harness.token.split('.')[2]!)
    expect(text).not.toContain(proof.split('.')[2]!)
  })
})

describe('configuration', () => {
  it('names every bad field', () => {
    let error: unknown
    try {
      resolveGatewayConfig(
        {
          publicBaseUrl: 'not a url',
          upstream: { url: 'ftp://x', timeoutMs: -1 },
          tokens: {
            introspection: {
              endpoint: 'https://as.example/introspect',
              clientId: 'gw',
              clientSecretEnv: 'MISSING_SECRET',
            },
          },
          replay: { redis: {} },
          routes: [
            { path: 'items', methods: ['GET'] },
            { prefix: '/a', path: '/b' },
            { path: '/x', public: true, scopes: ['a'] },
          ],
          identityHeaders: { subject: 'authorization' },
          forwardAuthorization: 'rewrite',
          limits: { bodyBytes: 'big' },
          surprise: true,
        },
        {},
      )
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(GatewayConfigError)
    const problems = (error as GatewayConfigError).issues.join('\n')
    for (const field of [
      'surprise: is not a known setting',
      'publicBaseUrl: must be an absolute http or https URL',
      'upstream.url: must be an absolute http or https URL',
      'upstream.timeoutMs: must be a whole number',
      'tokens.introspection.clientSecretEnv: environment variable MISSING_SECRET is not set',
      'tokens.introspection.audience: is required',
      'replay.redis: needs exactly one of url, urlEnv',
      'routes[0].path: must start with /',
      'routes[1]: needs exactly one of path, prefix',
      'routes[2].scopes: a public route cannot require scopes',
      'identityHeaders.subject: must not be authorization',
      'forwardAuthorization: must be one of strip, keep',
      'limits.bodyBytes: must be a whole number',
    ])
      expect(problems).toContain(field)
  })

  it('reads secrets from the environment and never echoes them', () => {
    const secret = 'short-secret-value'
    expect(() =>
      resolveGatewayConfig(
        { ...baseConfig(harness.issuer, harness.upstream), nonces: { secretEnv: 'NONCE_SECRET' } },
        { NONCE_SECRET: secret },
      ),
    ).toThrow(/nonces.secretEnv: environment variable NONCE_SECRET must hold at least 32 bytes/)
    try {
      resolveGatewayConfig(
        { ...baseConfig(harness.issuer, harness.upstream), nonces: { secretEnv: 'NONCE_SECRET' } },
        { NONCE_SECRET: secret },
      )
    } catch (error) {
      expect(String(error)).not.toContain(secret)
    }
  })
})
