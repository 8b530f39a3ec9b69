/**
 * The verify service behind REAL nginx (`auth_request`) and Caddy (`forward_auth`), Debian's
 * packages run as child processes on loopback from the recipes in `docs/edge/` (the files users
 * copy, placeholders filled in). Through each proxy: allowed requests reach the API with the
 * identity and without credentials; every denial reaches the client exactly as the gateway
 * answers it (status, WWW-Authenticate, DPoP-Nonce, body) and never reaches the API; replays,
 * the nonce round trip, and client-sent identity copies.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof } from '@keybound/core'
import { send, type Received } from './support/http.js'
import { PUBLIC_BASE, dpopHeaders, startHarness, type Harness } from './support/fixture.js'
import { startProxy, type ProxyName, type RunningProxy } from './support/proxies.js'
import {
  DENIAL_CASES,
  IDENTITY,
  denialCases,
  withPreviousStepNonce,
  denialPath,
  seen,
  startVerify,
  type RunningVerify,
} from './support/verify.js'

/**
 * The client-side ports of every IPv4 loopback connection to `port`, open or in TIME_WAIT, read
 * from /proc/net/tcp: a connection closed after each check stays listed there for a minute.
 */
function loopbackPeersOf(port: number): Set<string> {
  const peers = new Set<string>()
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote] = line.trim().split(/\s+/)
    if (local === undefined || remote === undefined) continue
    const localPort = parseInt(local.split(':')[1]!, 16)
    const remotePort = parseInt(remote.split(':')[1]!, 16)
    if (localPort === port) peers.add(String(remotePort))
    else if (remotePort === port) peers.add(String(localPort))
  }
  return peers
}

const NONCE_ENV = { NONCE_SECRET: 'n'.repeat(40) }

let harness: Harness
let gatewayUrl: string
let denials: ReturnType<typeof denialCases>

beforeAll(async () => {
  harness = await startHarness({ clientId: 'app-1', scope: 'items:read items:write' })
  gatewayUrl = (await harness.gateway()).url
  denials = denialCases(harness)
})

afterAll(async () => {
  await harness?.close()
})

describe.each(['nginx', 'caddy'] as ProxyName[])('%s + verify service', (name) => {
  let verify: RunningVerify
  let proxy: RunningProxy
  let strictVerify: RunningVerify
  let strictProxy: RunningProxy

  beforeAll(async () => {
    ;[verify, strictVerify] = await Promise.all([
      startVerify(harness.issuer),
      startVerify(
        harness.issuer,
        { nonces: { secretEnv: 'NONCE_SECRET', stepSeconds: 1 } },
        NONCE_ENV,
      ),
    ])
    const upstream = new URL(harness.upstream.url).host
    ;[proxy, strictProxy] = await Promise.all([
      startProxy(name, { keybound: new URL(verify.url).host, upstream }),
      startProxy(name, { keybound: new URL(strictVerify.url).host, upstream }),
    ])
  })

  afterAll(async () => {
    await Promise.all([proxy?.close(), strictProxy?.close()])
    await Promise.all([verify?.service.close(), strictVerify?.service.close()])
  })

  const last = () => harness.upstream.received.at(-1)!

  it('forwards an allowed request with the identity, without the token and the proof', async () => {
    const before = harness.upstream.hits()
    const response = await send(`${proxy.url}/items/42?page=2`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/42', [
        ['x-keybound-subject', 'mallory'],
        ['x-keybound-scope', 'admin'],
        ['x-keybound-jkt', 'forged'],
      ]),
    })
    expect(response.status, proxy.stderr()).toBe(200)
    expect(harness.upstream.hits()).toBe(before + 1)
    expect(last().url).toBe('/items/42?page=2')
    expect(last().headers['x-keybound-subject']).toBe('alice')
    expect(last().headers['x-keybound-client-id']).toBe('app-1')
    expect(last().headers['x-keybound-scope']).toBe('items:read items:write')
    expect(last().headers['x-keybound-jkt']).toBe(harness.key.jkt)
    expect(last().headers.authorization).toBeUndefined()
    expect(last().headers.dpop).toBeUndefined()
    expect(response.headers['dpop-nonce']).toBeUndefined()
  })

  it('forwards a public route with no identity, whatever copies the client sent', async () => {
    const response = await send(`${proxy.url}/public/readme`, {
      headers: [
        ['x-keybound-subject', 'mallory'],
        ['X_Keybound_Subject', 'mallory'],
        ['x-keybound-client-id', 'evil-app'],
        ['x-keybound-scope', 'admin'],
        ['x-keybound-jkt', 'forged'],
      ],
    })
    expect(response.status).toBe(200)
    expect(last().url).toBe('/public/readme')
    for (const header of IDENTITY) expect(last().headers[header]).toBeUndefined()
    expect(last().headers['x_keybound_subject']).toBeUndefined()
  })

  it.each(DENIAL_CASES)(
    'answers "%s" exactly as the gateway, and the API never sees it',
    async (denial) => {
      const uri = denialPath(denial)
      const reference = await send(`${gatewayUrl}${uri}`, { headers: await denials[denial](uri) })
      const before = harness.upstream.hits()
      const response = await send(`${proxy.url}${uri}`, { headers: await denials[denial](uri) })
      expect(seen(response)).toEqual(seen(reference))
      expect(harness.upstream.hits()).toBe(before)
    },
  )

  // nginx keeps an auth_request connection only when the answer's body is known to be empty; a
  // chunked empty answer once cost a new TCP connection (and ~100 µs of verify CPU) per request.
  it('reuses its connections to the verify service from one check to the next', async () => {
    const port = Number(new URL(verify.url).port)
    const before = loopbackPeersOf(port)
    for (let i = 0; i < 12; i++) {
      const headers = await dpopHeaders(harness.key, harness.token, 'GET', `/items/${i}`)
      const denied = await send(`${proxy.url}/items/${i}`, { headers: headers.slice(0, 1) })
      expect(denied.status).toBe(401)
      expect((await send(`${proxy.url}/items/${i}`, { headers })).status).toBe(200)
    }
    const opened = [...loopbackPeersOf(port)].filter((peer) => !before.has(peer))
    // One connection per proxy worker at most (nginx runs one per core), not one per check.
    expect(opened.length).toBeLessThanOrEqual(4)
  })

  it('refuses a replayed proof', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/5')
    expect((await send(`${proxy.url}/items/5`, { headers })).status).toBe(200)
    const before = harness.upstream.hits()
    const replay = await send(`${proxy.url}/items/5`, { headers })
    expect(replay.status).toBe(401)
    expect(replay.headers['www-authenticate']).toContain('error="invalid_dpop_proof"')
    expect(harness.upstream.hits()).toBe(before)
  })

  it('answers 404 and 405 for what no route allows, never a 500', async () => {
    const before = harness.upstream.hits()
    expect((await send(`${proxy.url}/nowhere`)).status).toBe(404)
    const wrongMethod = await send(`${proxy.url}/upload`, { method: 'PATCH' })
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.allow).toBe('POST, PUT')
    expect(harness.upstream.hits()).toBe(before)
  })

  it('refuses an oversized header with a 4xx, never a 500, and the API never sees it', async () => {
    const before = harness.upstream.hits()
    const response = await send(`${proxy.url}/items/1`, {
      headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/1', [
        ['x-big', 'a'.repeat(20 * 1024)],
      ]),
    })
    expect([400, 431]).toContain(response.status)
    expect(harness.upstream.hits()).toBe(before)
  })

  it('carries the nonce round trip: use_dpop_nonce, then allowed, then a rotated nonce on a 200', async () => {
    const request = async (nonce?: string): Promise<Received> => {
      const proof = await createProof(harness.key, {
        htm: 'GET',
        htu: `${PUBLIC_BASE}/items/1`,
        accessToken: harness.token,
        ...(nonce === undefined ? {} : { nonce }),
      })
      return send(`${strictProxy.url}/items/1`, {
        headers: [
          ['authorization', `DPoP ${harness.token}`],
          ['dpop', proof],
        ],
      })
    }
    const first = await request()
    expect(first.status).toBe(401)
    expect(first.headers['www-authenticate']).toContain('error="use_dpop_nonce"')
    const nonce = first.headers['dpop-nonce'] as string
    expect(nonce).toMatch(/^[\w.-]+$/)
    expect((await request(nonce)).status).toBe(200)
    // A nonce of the previous one-second step is taken and replaced: the new one must reach
    // the client on the 200.
    const rotated = await withPreviousStepNonce(
      async () => (await request()).headers['dpop-nonce'] as string,
      async (fresh) => {
        const answer = await request(fresh)
        return answer.status === 200 ? answer : undefined
      },
    )
    expect(rotated?.headers['dpop-nonce']).toMatch(/^[\w.-]+$/)
    expect(rotated?.headers['dpop-nonce']).not.toBe(nonce)
    expect(last().headers['x-keybound-nonce']).toBeUndefined()
  })
})

describe('nginx + verify service with upstreamAuthorization: bearer', () => {
  it('hands the API the token as Bearer, and never the proof', async () => {
    const legacy = await startVerify(harness.issuer, {
      verify: { upstreamAuthorization: 'bearer' },
    })
    const nginx = await startProxy('nginx', {
      keybound: new URL(legacy.url).host,
      upstream: new URL(harness.upstream.url).host,
    })
    try {
      const response = await send(`${nginx.url}/items/11`, {
        headers: await dpopHeaders(harness.key, harness.token, 'GET', '/items/11'),
      })
      expect(response.status, nginx.stderr()).toBe(200)
      const received = harness.upstream.received.at(-1)!
      expect(received.headers.authorization).toBe(`Bearer ${harness.token}`)
      expect(received.headers.dpop).toBeUndefined()
    } finally {
      await nginx.close()
      await legacy.service.close()
    }
  })
})
