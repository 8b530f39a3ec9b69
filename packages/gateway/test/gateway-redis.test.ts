/**
 * Several gateways behind one URL share Redis, so a proof accepted by one is refused by every
 * other (RFC 9449 §11.1). Needs a real Redis: `REDIS_URL` (CI sets it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { send } from './support/http.js'
import { dpopHeaders, type RunningGateway, startHarness, type Harness } from './support/fixture.js'
import { requireRedisUrl, uniqueKeyPrefix } from '@keybound/test-kit/redis'

requireRedisUrl()

let harness: Harness
let first: RunningGateway
let second: RunningGateway

beforeAll(async () => {
  harness = await startHarness({ sub: 'alice', scope: 'items:read' })
  // A prefix of its own, so parallel runs and other suites never share entries with this one.
  const replay = {
    redis: { urlEnv: 'REDIS_URL', keyPrefix: uniqueKeyPrefix('gateway') },
  }
  first = await harness.gateway({ replay })
  second = await harness.gateway({ replay })
})

afterAll(async () => {
  await harness?.close()
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
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/1')
    const accepted = await send(`${first.url}/items/1`, { headers })
    expect(accepted.status).toBe(200)
    const hits = harness.upstream.hits()
    const replayed = await send(`${second.url}/items/1`, { headers })
    expect(replayed.status).toBe(401)
    expect(replayed.headers['www-authenticate']).toBe(
      'DPoP error="invalid_dpop_proof", error_description="DPoP proof already used", algs="ES256"',
    )
    expect(harness.upstream.hits()).toBe(hits)
  })

  it('accept a proof sent to both at the same moment exactly once', async () => {
    for (let round = 0; round < 10; round++) {
      const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/2')
      const hits = harness.upstream.hits()
      const statuses = await Promise.all(
        [first, second].map((running) => send(`${running.url}/items/2`, { headers })),
      )
      expect(statuses.map((response) => response.status).sort()).toEqual([200, 401])
      expect(harness.upstream.hits()).toBe(hits + 1)
    }
  })
})
