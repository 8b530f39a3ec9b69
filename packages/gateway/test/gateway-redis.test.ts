/**
 * Several gateways behind one URL share Redis, so a proof accepted by one is refused by every
 * other (RFC 9449 §11.1). Needs a real Redis: `REDIS_URL` (CI sets it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DPoPKeyPair } from '@keybound/core'
import { send } from './support/http.js'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import {
  ISSUER,
  baseConfig,
  clientKey,
  dpopHeaders,
  startGateway,
  type RunningGateway,
} from './support/fixture.js'
import { startUpstream, type TestUpstream } from './support/upstream.js'
import { requireRedisUrl, uniqueKeyPrefix } from '@keybound/test-kit/redis'

requireRedisUrl()

let issuer: TestIssuer
let upstream: TestUpstream
let first: RunningGateway
let second: RunningGateway
let key: DPoPKeyPair
let token: string

beforeAll(async () => {
  issuer = await startTestIssuer(ISSUER)
  upstream = await startUpstream()
  // A prefix of its own, so parallel runs and other suites never share entries with this one.
  const replay = {
    redis: { urlEnv: 'REDIS_URL', keyPrefix: uniqueKeyPrefix('gateway') },
  }
  first = await startGateway(baseConfig(issuer, upstream, { replay }))
  second = await startGateway(baseConfig(issuer, upstream, { replay }))
  key = await clientKey()
  token = await issuer.mint({ sub: 'alice', scope: 'items:read', jkt: key.jkt })
})

afterAll(async () => {
  await Promise.all([first?.gateway.close(), second?.gateway.close()])
  await upstream?.close()
  await issuer?.close()
})

describe('two gateways sharing Redis', () => {
  it('report Redis as ready in /healthz', async () => {
    for (const running of [first, second]) {
      const health = await send(`${running.url}/_keybound/healthz`)
      expect(health.status).toBe(200)
      expect(JSON.parse(health.text)).toEqual({ status: 'ok', replay: 'ready' })
    }
  })

  it('accept a proof once: the replay to the other instance is refused and never forwarded', async () => {
    const headers = await dpopHeaders(key, token, 'GET', '/items/1')
    const accepted = await send(`${first.url}/items/1`, { headers })
    expect(accepted.status).toBe(200)
    const hits = upstream.hits()
    const replayed = await send(`${second.url}/items/1`, { headers })
    expect(replayed.status).toBe(401)
    expect(replayed.headers['www-authenticate']).toBe(
      'DPoP error="invalid_dpop_proof", error_description="DPoP proof already used", algs="ES256"',
    )
    expect(upstream.hits()).toBe(hits)
  })

  it('accept a proof sent to both at the same moment exactly once', async () => {
    for (let round = 0; round < 10; round++) {
      const headers = await dpopHeaders(key, token, 'GET', '/items/2')
      const hits = upstream.hits()
      const statuses = await Promise.all(
        [first, second].map((running) => send(`${running.url}/items/2`, { headers })),
      )
      expect(statuses.map((response) => response.status).sort()).toEqual([200, 401])
      expect(upstream.hits()).toBe(hits + 1)
    }
  })
})
