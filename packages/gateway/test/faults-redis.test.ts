/**
 * A Redis outage in the middle of traffic at the gateway (the resource-server side is covered
 * in packages/server/test/redis-resource-servers.test.ts). The gateway's replay store is a
 * throwaway `redis-server` child on a free loopback port, with an append-only file fsynced on
 * every write, so that SIGKILL loses nothing: while Redis is down every protected request is
 * answered 503 (fail closed) and never reaches the upstream, the gateway stays up, no replay is
 * ever accepted (including replays of proofs accepted before the outage, after it), and traffic
 * is accepted again without restarting the gateway. `REDIS_URL` is required like in every Redis
 * suite, even though this one runs its own server.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  redisChild,
  requireRedisUrl,
  type RedisChild,
  uniqueKeyPrefix,
} from '@keybound/test-kit/redis'
import { recordReliability } from '@keybound/test-kit/reliability'
import { send, type Received } from './support/http.js'
import { dpopHeaders, type RunningGateway, startHarness, type Harness } from './support/fixture.js'

requireRedisUrl()

let harness: Harness
let redis: RedisChild
let running: RunningGateway
let directory: string

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kb-gw-redis-'))
  redis = await redisChild(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', directory])
  await redis.start()
  harness = await startHarness({ sub: 'alice', scope: 'items:read' })
  const replay = {
    redis: { urlEnv: 'FAULT_REDIS_URL', keyPrefix: uniqueKeyPrefix('gw-fault') },
  }
  running = await harness.gateway(
    { replay, log: { level: 'silent' } },
    { env: { FAULT_REDIS_URL: redis.url } },
  )
})

afterAll(async () => {
  await harness?.close()
  await redis?.kill()
  await rm(directory, { recursive: true, force: true })
})

async function get(headers: Array<[string, string]>): Promise<Received> {
  return send(`${running.url}/items/1`, { headers })
}

async function fresh(): Promise<Array<[string, string]>> {
  return dpopHeaders(harness.key, harness.token, 'GET', '/items/1')
}

function expectUnavailable(reply: Received): void {
  expect(reply.status).toBe(503)
  expect(JSON.parse(reply.text)).toMatchObject({ error: 'temporarily_unavailable' })
  expect(reply.headers['retry-after']).toBeDefined()
}

describe('the gateway when Redis goes down and comes back under load', () => {
  it('answers 503 while down, never forwards or accepts a replay, and recovers without a restart', async () => {
    const accepted: Array<Array<[string, string]>> = []
    const early = await fresh()
    expect((await get(early)).status).toBe(200)
    accepted.push(early)

    type Sample = { sentAt: number; at: number; status: number; headers: Array<[string, string]> }
    const samples: Sample[] = []
    let stop = false
    const workers = Array.from({ length: 6 }, async () => {
      const deadline = performance.now() + 15_000
      while (!stop && performance.now() < deadline) {
        const headers = await fresh()
        const sentAt = performance.now()
        const reply = await get(headers)
        samples.push({ sentAt, at: performance.now(), status: reply.status, headers })
        if (reply.status === 200) accepted.push(headers)
        await sleep(5)
      }
    })

    await sleep(500)
    const hitsBefore = harness.upstream.hits()
    const countedFrom = performance.now()
    await redis.kill()
    const killedAt = performance.now()
    await sleep(1_000)
    expectUnavailable(await get(early))
    expectUnavailable(await get(await fresh()))
    // Still up: its own health endpoint answers (and says the replay store is not ready).
    const health = await send(`${running.url}/_keybound/healthz`)
    expect(health.status).toBe(503)

    // Redis answers again somewhere inside start() (which returns after its first PING), so the
    // outage window ends when the restart begins, not when start() returns.
    const restartingAt = performance.now()
    await redis.start()
    const restartedAt = performance.now()
    let recoveredAt: number | undefined
    while (performance.now() - restartedAt < 8_000) {
      const headers = await fresh()
      const reply = await get(headers)
      if (reply.status === 200) {
        accepted.push(headers)
        recoveredAt = performance.now()
        break
      }
      expectUnavailable(reply)
      await sleep(50)
    }
    expect(recoveredAt).toBeDefined()
    await sleep(300)
    stop = true
    await Promise.all(workers)

    const down = samples.filter((sample) => sample.sentAt > killedAt && sample.at < restartingAt)
    expect(down.length).toBeGreaterThan(0)
    for (const sample of down) expect(sample.status).toBe(503)
    expect(new Set(samples.map((sample) => sample.status))).toEqual(new Set([200, 503]))
    // Nothing answered 503 reached the upstream: its hit count grew only with acceptances.
    // A request answered before `countedFrom` was counted in `hitsBefore`; any other 200 may
    // have reached the upstream after it (plus the one accepted by the recovery loop).
    expect(harness.upstream.hits() - hitsBefore).toBeLessThanOrEqual(
      samples.filter((sample) => sample.at >= countedFrom && sample.status === 200).length + 1,
    )

    // No replay of anything ever accepted, before or after the outage (the AOF kept them all).
    let acceptedReplays = 0
    for (const headers of accepted) {
      const replay = await get(headers)
      if (replay.status === 200) acceptedReplays++
      else expect(replay.status).toBe(401)
    }
    expect(acceptedReplays).toBe(0)
    recordReliability('gateway-redis-outage', {
      faultsInjected: 1,
      requestsServed: samples.length + accepted.length + 4,
      acceptedReplays,
      notes: [
        `gateway Redis outage: ${down.length} requests answered 503 while down; recovered ` +
          `${Math.round(recoveredAt! - restartedAt)} ms after the restart; ${accepted.length} accepted proofs replayed, 0 accepted`,
      ],
    })
    console.info(
      `gateway outage: ${samples.length} requests, ${down.length} × 503 while down, recovered ` +
        `${Math.round(recoveredAt! - restartedAt)} ms after restart, ${accepted.length} replays refused`,
    )
  }, 40_000)
})
