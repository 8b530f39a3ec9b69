/**
 * The verify service (`keybound authz`) over real HTTP on loopback, with a real issuer and
 * JWKS: allow answers with identity headers, denials identical to the gateway's own (the same
 * request through the in-process gateway is the reference), trust of the proxy's forwarded
 * method and URI, and clear refusals of bad check requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof } from '@keybound/core'
import { resolveGatewayConfig } from '../src/index.js'
import { send } from './support/http.js'
import { PUBLIC_BASE, dpopHeaders, type Harness } from './support/fixture.js'
import {
  DENIAL_CASES,
  startEdgeHarness,
  withPreviousStepNonce,
  type EdgeHarness,
  forwarded,
  seen,
  startVerify,
  verifyConfig,
  type RunningVerify,
} from './support/verify.js'

let edge: EdgeHarness
let harness: Harness
let verify: RunningVerify
let gatewayUrl: string
let denials: EdgeHarness['denials']

beforeAll(async () => {
  edge = await startEdgeHarness()
  ;({ harness, verify, gatewayUrl, denials } = edge)
})

afterAll(async () => {
  await edge?.close()
})

/** A check of `method` `uri` carrying the client's `headers`. */
function check(method: string, uri: string, headers: Array<[string, string]>, path = '/check') {
  return send(`${verify.url}${path}`, { headers: [...headers, ...forwarded(method, uri)] })
}

describe('verify service: allow', () => {
  it('answers 200 with the identity headers, and no body', async () => {
    const response = await check(
      'GET',
      '/items/42?page=2',
      await dpopHeaders(harness.key, harness.token, 'GET', '/items/42'),
    )
    expect(response.status).toBe(200)
    expect(response.headers['x-keybound-subject']).toBe('alice')
    expect(response.headers['x-keybound-client-id']).toBe('app-1')
    expect(response.headers['x-keybound-scope']).toBe('items:read items:write')
    expect(response.headers['x-keybound-jkt']).toBe(harness.key.jkt)
    expect(response.headers.authorization).toBeUndefined()
    expect(response.text).toBe('')
  })

  it('allows a public route without credentials, with no identity headers', async () => {
    const response = await check('GET', '/public/readme', [['x-keybound-subject', 'mallory']])
    expect(response.status).toBe(200)
    expect(response.headers['x-keybound-subject']).toBeUndefined()
  })

  it('consumes the proof: the same proof checked twice is a replay', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/5')
    expect((await check('GET', '/items/5', headers)).status).toBe(200)
    const replay = await check('GET', '/items/5', headers)
    expect(replay.status).toBe(401)
    expect(replay.headers['www-authenticate']).toContain('error="invalid_dpop_proof"')
  })
})

describe('verify service: denials are the gateway’s own, byte for byte', () => {
  it.each(DENIAL_CASES)('%s', async (name) => {
    const uri = name === 'insufficient scope' ? '/admin/x' : '/items/7'
    const reference = await send(`${gatewayUrl}${uri}`, { headers: await denials[name]!(uri) })
    expect(reference.status).toBeGreaterThanOrEqual(400)
    const answer = await check('GET', uri, await denials[name]!(uri))
    expect(seen(answer)).toEqual(seen(reference))
    expect(answer.headers['x-keybound-status']).toBe(String(reference.status))
    for (const identity of ['x-keybound-subject', 'x-keybound-scope', 'x-keybound-jkt'])
      expect(answer.headers[identity]).toBeUndefined()
  })

  it('answers routes the gateway would not forward: 404, 405, 400 for a bad path', async () => {
    expect((await check('GET', '/nowhere', [])).status).toBe(404)
    const wrongMethod = await check('PATCH', '/upload', [])
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.allow).toBe('POST, PUT')
    expect((await check('GET', '/items/%2e%2e/admin', [])).status).toBe(400)
  })
})

describe('verify service: nonces', () => {
  it('asks for a nonce, accepts it, and hands a fresh one on success when it rotates', async () => {
    const env = { NONCE_SECRET: 'n'.repeat(40) }
    const strict = await startVerify(
      harness.issuer,
      { nonces: { secretEnv: 'NONCE_SECRET', stepSeconds: 1 } },
      env,
    )
    const checkStrict = async (nonce?: string) => {
      const proof = await createProof(harness.key, {
        htm: 'GET',
        htu: `${PUBLIC_BASE}/items/1`,
        accessToken: harness.token,
        ...(nonce === undefined ? {} : { nonce }),
      })
      return send(`${strict.url}/check`, {
        headers: [
          ['authorization', `DPoP ${harness.token}`],
          ['dpop', proof],
          ...forwarded('GET', '/items/1'),
        ],
      })
    }
    try {
      const first = await checkStrict()
      expect(first.status).toBe(401)
      expect(first.headers['www-authenticate']).toContain('error="use_dpop_nonce"')
      const nonce = first.headers['dpop-nonce'] as string
      expect(nonce).toMatch(/^[\w.-]+$/)
      const second = await checkStrict(nonce)
      expect(second.status).toBe(200)
      // A nonce of the previous step is accepted and replaced: the client must get the new one
      // on the allowed request.
      const rotated = await withPreviousStepNonce(
        async () => (await checkStrict()).headers['dpop-nonce'] as string,
        async (nonce) => {
          const answer = await checkStrict(nonce)
          return answer.status === 200 ? answer : undefined
        },
      )
      expect(rotated?.headers['dpop-nonce']).toMatch(/^[\w.-]+$/)
    } finally {
      await strict.service.close()
    }
  })
})

describe('verify service: trust of the proxy', () => {
  it('refuses a check from an address that is not a trusted proxy, forged X-Forwarded-* or not', async () => {
    const elsewhere = await startVerify(harness.issuer, {
      verify: { trustedProxies: ['192.0.2.10'] },
    })
    try {
      const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/3')
      const forged = await send(`${elsewhere.url}/check`, {
        headers: [...headers, ...forwarded('GET', '/items/3')],
      })
      expect(forged.status).toBe(403)
      expect(JSON.parse(forged.text)).toEqual({ error: 'untrusted_proxy' })
      expect(forged.headers['x-keybound-subject']).toBeUndefined()
      // The proof was not consumed there: the trusted service still takes it.
      expect((await check('GET', '/items/3', headers)).status).toBe(200)
    } finally {
      await elsewhere.service.close()
    }
  })

  it('checks htu against the public base URL, whatever host a trusted proxy forwards', async () => {
    const evilProof = await createProof(harness.key, {
      htm: 'GET',
      htu: 'https://evil.example/items/8',
      accessToken: harness.token,
    })
    const evil: Array<[string, string]> = [
      ['authorization', `DPoP ${harness.token}`],
      ['dpop', evilProof],
      ['x-forwarded-host', 'evil.example'],
      ['forwarded', 'proto=https;host=evil.example'],
    ]
    const refused = await send(`${verify.url}/check`, {
      headers: [...evil, ['x-forwarded-method', 'GET'], ['x-forwarded-uri', '/items/8']],
    })
    expect(refused.status).toBe(401)
    expect(refused.headers['www-authenticate']).toContain('error="invalid_dpop_proof"')
    const good = await dpopHeaders(harness.key, harness.token, 'GET', '/items/8')
    const allowed = await send(`${verify.url}/check`, {
      headers: [
        ...good,
        ['x-forwarded-host', 'evil.example'],
        ['x-forwarded-method', 'GET'],
        ['x-forwarded-uri', '/items/8'],
      ],
    })
    expect(allowed.status).toBe(200)
  })
})

describe('verify service: bad check requests get a clear refusal, never a 500', () => {
  const cases: Array<[string, Array<[string, string]>, number, string]> = [
    ['no method', [['x-forwarded-uri', '/items/1']], 400, 'invalid_check_request'],
    ['no URI', [['x-forwarded-method', 'GET']], 400, 'invalid_check_request'],
    [
      'two URIs',
      [
        ['x-forwarded-method', 'GET'],
        ['x-forwarded-uri', '/items/1'],
        ['x-forwarded-uri', '/admin/x'],
      ],
      400,
      'invalid_check_request',
    ],
    [
      'an absolute URI',
      [
        ['x-forwarded-method', 'GET'],
        ['x-forwarded-uri', 'https://evil.example/items/1'],
      ],
      400,
      'invalid_check_request',
    ],
    [
      'a method that is not a token',
      [
        ['x-forwarded-method', 'G E T'],
        ['x-forwarded-uri', '/items/1'],
      ],
      400,
      'invalid_check_request',
    ],
    [
      'an oversized header',
      [...forwarded('GET', '/items/1'), ['x-big', 'a'.repeat(20 * 1024)]],
      431,
      'header_too_large',
    ],
  ]

  it.each(cases)('%s', async (_name, headers, status, error) => {
    const response = await send(`${verify.url}/check`, { headers })
    expect(response.status).toBe(status)
    expect(JSON.parse(response.text)).toEqual({ error })
  })

  it.each(cases)(
    '%s, for nginx: 403 with the real status and body in headers',
    async (_name, headers, status, error) => {
      const response = await send(`${verify.url}/check/nginx`, { headers })
      expect(response.status).toBe(403)
      expect(response.headers['x-keybound-status']).toBe(String(status))
      expect(JSON.parse(response.headers['x-keybound-body'] as string)).toEqual({ error })
    },
  )

  it('answers 404 off the check paths, and health to anyone', async () => {
    expect((await send(`${verify.url}/other`)).status).toBe(404)
    expect((await send(`${verify.url}/_keybound/healthz`)).status).toBe(200)
    expect((await send(`${verify.url}/_keybound/metrics`)).text).toContain(
      'keybound_gateway_requests_total{outcome="accepted"',
    )
  })
})

describe('verify service: Authorization for legacy upstreams', () => {
  it('hands the token as Bearer only when upstreamAuthorization is bearer', async () => {
    const legacy = await startVerify(harness.issuer, {
      verify: { upstreamAuthorization: 'bearer' },
    })
    try {
      const response = await send(`${legacy.url}/check`, {
        headers: [
          ...(await dpopHeaders(harness.key, harness.token, 'GET', '/items/9')),
          ...forwarded('GET', '/items/9'),
        ],
      })
      expect(response.status).toBe(200)
      expect(response.headers.authorization).toBe(`Bearer ${harness.token}`)
    } finally {
      await legacy.service.close()
    }
  })
})

describe('verify service: config', () => {
  it('needs no upstream, and names bad verify fields by path', () => {
    expect(() =>
      resolveGatewayConfig(verifyConfig(harness.issuer), {}, undefined, { mode: 'verify' }),
    ).not.toThrow()
    expect(() => resolveGatewayConfig(verifyConfig(harness.issuer), {})).toThrow(
      'upstream: is required',
    )
    expect(() =>
      resolveGatewayConfig(
        verifyConfig(harness.issuer, {
          verify: {
            trustedProxies: ['proxy.local', '10.0.0.0/8'],
            upstreamAuthorization: 'yes',
            extra: 1,
          },
        }),
        {},
        undefined,
        { mode: 'verify' },
      ),
    ).toThrow(
      /verify\.extra: is not a known setting[\s\S]*verify\.trustedProxies\[0\]: must be an IP address[\s\S]*verify\.trustedProxies\[1\][\s\S]*verify\.upstreamAuthorization: must be one of none, bearer/,
    )
  })
})
