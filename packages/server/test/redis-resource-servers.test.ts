/**
 * Resource-server replicas sharing one Redis replay store, over real HTTP on 127.0.0.1 with a
 * real JWKS issuer: a proof sent to two replicas at once is accepted by exactly one (RFC 9449
 * §11.1, B15). And a Redis outage in the middle of traffic: 503 `temporarily_unavailable`,
 * never acceptance, no crash, and recovery without restarting the resource server.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { createResourceServer, jwtAccessTokens, type ResourceServer } from '@keybound/server'
import { createRedisReplayStore, type RedisReplayStore } from '@keybound/server/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import {
  keepAliveClient,
  startReplica,
  type Client,
  type Replica,
  type Reply,
} from './support/redis-http.js'
import {
  deleteKeys,
  redisChild,
  requireRedisUrl,
  type RedisChild,
  uniqueKeyPrefix,
} from '@keybound/test-kit/redis'
import { recordReliability } from '@keybound/test-kit/reliability'

const REDIS_URL = requireRedisUrl()
// Replicas behind one load balancer share one public URL: it is what `htu` names.
const PUBLIC_BASE_URL = 'https://api.replicas.test'
const RESOURCE = `${PUBLIC_BASE_URL}/items`
const KEY_PREFIX = uniqueKeyPrefix('redis-resource-servers')

interface Caller {
  key: DPoPKeyPair
  token: string
}

let issuer: TestIssuer
let callers: Caller[]
const stores: RedisReplayStore[] = []
const replicas: Replica[] = []
let client: Client

function resourceServer(replayStore: RedisReplayStore): ResourceServer {
  return createResourceServer({
    publicBaseUrl: PUBLIC_BASE_URL,
    accessTokens: jwtAccessTokens({
      issuer: issuer.issuer,
      audience: PUBLIC_BASE_URL,
      jwksUri: issuer.jwksUri,
    }),
    replayStore,
  })
}

function redisStore(url: string, keyPrefix: string, commandTimeoutMs?: number): RedisReplayStore {
  const store = createRedisReplayStore({ url, keyPrefix, commandTimeoutMs })
  stores.push(store)
  return store
}

async function connected(store: RedisReplayStore, withinMs = 5000): Promise<void> {
  const deadline = performance.now() + withinMs
  while (!('isReady' in store.client && store.client.isReady)) {
    if (performance.now() > deadline) throw new Error('the Redis replay store did not connect')
    await sleep(20)
  }
}

async function replica(store: RedisReplayStore): Promise<Replica> {
  const started = await startReplica(resourceServer(store))
  replicas.push(started)
  return started
}

async function proofFor(caller: Caller): Promise<string> {
  return createProof(caller.key, { htm: 'GET', htu: RESOURCE, accessToken: caller.token })
}

function headersFor(caller: Caller, proof: string): Record<string, string> {
  return { authorization: `DPoP ${caller.token}`, dpop: proof }
}

function expectReplayRejection(reply: Reply): void {
  expect(reply.status).toBe(401)
  expect(reply.headers['www-authenticate']).toMatch(
    /^DPoP error="invalid_dpop_proof", error_description="DPoP proof already used", algs="[^"]*\bES256\b[^"]*"$/,
  )
  expect(JSON.parse(reply.body)).toEqual({
    error: 'invalid_dpop_proof',
    error_description: 'DPoP proof already used',
  })
}

function expectUnavailable(reply: Reply): void {
  expect(reply.status).toBe(503)
  expect(JSON.parse(reply.body)).toMatchObject({ error: 'temporarily_unavailable' })
  expect(reply.headers['cache-control']).toBe('no-store')
  expect(reply.headers['retry-after']).toBeDefined()
  // Not an authentication failure: no challenge that would make the client drop its token.
  expect(reply.headers['www-authenticate']).toBeUndefined()
}

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: PUBLIC_BASE_URL })
  callers = await Promise.all(
    [1, 2, 3, 4].map(async (n) => {
      const key = await generateKeyPair('ES256')
      return { key, token: await issuer.mint({ jkt: key.jkt, sub: `caller-${n}`, scope: 'read' }) }
    }),
  )
  client = keepAliveClient()
})

afterAll(async () => {
  client?.close()
  await Promise.all(replicas.map((each) => each.close()))
  await Promise.all(stores.map((each) => each.close()))
  await issuer?.close()
  await deleteKeys(REDIS_URL, KEY_PREFIX)
})

describe('two resource servers sharing a Redis replay store', () => {
  it('accept each of 1,000 proofs exactly once when every proof hits both at the same time', async () => {
    const storeA = redisStore(REDIS_URL, `${KEY_PREFIX}shared:`)
    const storeB = redisStore(REDIS_URL, `${KEY_PREFIX}shared:`)
    await Promise.all([connected(storeA), connected(storeB)])
    const a = await replica(storeA)
    const b = await replica(storeB)

    const sends = await Promise.all(
      Array.from({ length: 1000 }, async (_, index) => {
        const caller = callers[index % callers.length]!
        return { caller, proof: await proofFor(caller) }
      }),
    )
    const started = performance.now()
    // Each proof goes to both at once; who is asked first alternates, so neither has a head start.
    const pairs = await Promise.all(
      sends.map(async ({ caller, proof }, index): Promise<[Reply, Reply]> => {
        const [first, second] = index % 2 === 0 ? [a, b] : [b, a]
        const replies = await Promise.all([
          client.get(`${first.url}/items`, headersFor(caller, proof)),
          client.get(`${second.url}/items`, headersFor(caller, proof)),
        ])
        return index % 2 === 0 ? replies : [replies[1], replies[0]]
      }),
    )
    const elapsed = performance.now() - started

    let accepted = 0
    for (const [fromA, fromB] of pairs) {
      const statuses = [fromA.status, fromB.status].sort()
      expect(statuses).toEqual([200, 401])
      const [ok, refused] = fromA.status === 200 ? [fromA, fromB] : [fromB, fromA]
      expect(JSON.parse(ok.body)).toMatchObject({ subject: expect.stringMatching(/^caller-/) })
      expectReplayRejection(refused)
      accepted++
    }
    expect(accepted).toBe(1000)
    expect(a.served + b.served).toBe(1000)
    // Both replicas won races: the requests really were concurrent.
    expect(a.served).toBeGreaterThan(0)
    expect(b.served).toBeGreaterThan(0)
    console.info(
      `2,000 requests in ${Math.round(elapsed)} ms; replica A accepted ${a.served}, B ${b.served}`,
    )

    // Later replays are refused by both.
    const later = await Promise.all(
      sends
        .slice(0, 50)
        .flatMap(({ caller, proof }) =>
          [a.url, b.url].map((url) => client.get(`${url}/items`, headersFor(caller, proof))),
        ),
    )
    for (const reply of later) expectReplayRejection(reply)
  })

  it('do not share proofs with a replica using another key prefix', async () => {
    const shared = redisStore(REDIS_URL, `${KEY_PREFIX}prefix-1:`)
    const other = redisStore(REDIS_URL, `${KEY_PREFIX}prefix-2:`)
    await Promise.all([connected(shared), connected(other)])
    const a = await replica(shared)
    const b = await replica(other)
    const caller = callers[0]!
    const proof = await proofFor(caller)
    expect((await client.get(`${a.url}/items`, headersFor(caller, proof))).status).toBe(200)
    expect((await client.get(`${b.url}/items`, headersFor(caller, proof))).status).toBe(200)
    expectReplayRejection(await client.get(`${a.url}/items`, headersFor(caller, proof)))
  })
})

describe('three resource servers sharing a Redis replay store', () => {
  it('accept exactly 10,000 of 10,000 distinct proofs when each is sent to two of them at once', async () => {
    const prefix = `${KEY_PREFIX}three:`
    const three = [
      redisStore(REDIS_URL, prefix),
      redisStore(REDIS_URL, prefix),
      redisStore(REDIS_URL, prefix),
    ]
    await Promise.all(three.map((store) => connected(store)))
    const servers = await Promise.all(three.map((store) => replica(store)))
    const total = 10_000
    const started = performance.now()
    let accepted = 0
    let refusedAsReplay = 0
    let next = 0
    // Bounded concurrency: 128 proofs (256 requests) in flight, proofs made just in time.
    const worker = async () => {
      while (next < total) {
        const index = next++
        const caller = callers[index % callers.length]!
        const proof = await proofFor(caller)
        // Pairs rotate over (0,1), (1,2), (2,0) so every instance races every other one.
        const pair = [servers[index % 3]!, servers[(index + 1) % 3]!]
        const replies = await Promise.all(
          pair.map((each) => client.get(`${each.url}/items`, headersFor(caller, proof))),
        )
        const statuses = replies.map((reply) => reply.status).sort()
        expect(statuses).toEqual([200, 401])
        accepted += replies.filter((reply) => reply.status === 200).length
        for (const reply of replies)
          if (reply.status === 401) {
            expectReplayRejection(reply)
            refusedAsReplay++
          }
      }
    }
    await Promise.all(Array.from({ length: 128 }, worker))
    const elapsed = performance.now() - started
    expect(accepted).toBe(total)
    expect(refusedAsReplay).toBe(total)
    expect(servers.reduce((sum, each) => sum + each.served, 0)).toBe(total)
    for (const each of servers) expect(each.served).toBeGreaterThan(0)
    recordReliability('server-three-replicas', {
      requestsServed: 2 * total,
      acceptedReplays: accepted - total,
      notes: [
        `3 resource servers on one Redis: ${total} proofs x 2 instances in ${Math.round(elapsed)} ms; ` +
          `accepted ${accepted}, refused as replays ${refusedAsReplay}; per instance ${servers.map((each) => each.served).join('/')}`,
      ],
    })
    console.info(
      `three replicas: ${2 * total} requests in ${Math.round(elapsed)} ms, ${accepted} accepted`,
    )
  }, 60_000)
})

describe('a Redis outage in the middle of traffic', () => {
  let redis: RedisChild | undefined

  afterAll(async () => {
    await redis?.kill()
  })

  it('answers 503 while Redis is down, accepts no replay, and recovers when Redis is back', async () => {
    const testStarted = performance.now()
    redis = await redisChild()
    await redis.start()
    const store = redisStore(redis.url, `${KEY_PREFIX}outage:`, 300)
    await connected(store)
    const server = await replica(store)
    const caller = callers[1]!
    const get = (proof: string): Promise<Reply> =>
      client.get(`${server.url}/items`, headersFor(caller, proof))

    // Before: accepted once, refused after.
    const early = await proofFor(caller)
    expect((await get(early)).status).toBe(200)
    expectReplayRejection(await get(early))

    // Traffic: 8 workers, each a fresh proof per request, until told to stop (bounded by time).
    type Sample = {
      sentAt: number
      at: number
      phase: 'up' | 'down' | 'back'
      proof: string
      reply: Reply
    }
    const samples: Sample[] = []
    let phase: Sample['phase'] = 'up'
    let stop = false
    const workers = Array.from({ length: 8 }, async () => {
      const deadline = performance.now() + 15_000
      while (!stop && performance.now() < deadline) {
        const proof = await proofFor(caller)
        const sentIn = phase
        const sentAt = performance.now()
        const reply = await get(proof)
        samples.push({ sentAt, at: performance.now(), phase: sentIn, proof, reply })
        await sleep(5)
      }
    })

    await sleep(400)
    phase = 'down'
    await redis.kill()
    const killedAt = performance.now()
    await sleep(1000)
    // During the outage: a replay of an accepted proof is still not accepted, and neither is a
    // fresh proof.
    expectUnavailable(await get(early))
    expectUnavailable(await get(await proofFor(caller)))

    // Requests answered after this instant may already have reached the restarted Redis.
    const restartingAt = performance.now()
    await redis.start()
    phase = 'back'
    const restartedAt = performance.now()
    // Wait (bounded) for the store to reconnect by itself: the resource server is not touched.
    let recoveredAt: number | undefined
    while (performance.now() - restartedAt < 8000) {
      const reply = await get(await proofFor(caller))
      if (reply.status === 200) {
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

    const statuses = new Set(samples.map((sample) => sample.reply.status))
    expect([...statuses].sort()).toEqual([200, 503])
    for (const sample of samples) {
      if (sample.reply.status === 503) expectUnavailable(sample.reply)
    }
    // Requests sent after Redis died and answered before it came back. (A request sent just
    // before the kill may legitimately be answered 200 late on a loaded machine.)
    const downSamples = samples.filter(
      (sample) => sample.sentAt > killedAt && sample.at < restartingAt,
    )
    expect(downSamples.length).toBeGreaterThan(0)
    for (const sample of downSamples) expect(sample.reply.status).toBe(503)
    expect(samples.some((sample) => sample.phase === 'up' && sample.reply.status === 200)).toBe(
      true,
    )
    const acceptedAfter = samples.filter(
      (sample) => sample.at > recoveredAt! && sample.reply.status === 200,
    )
    expect(acceptedAfter.length).toBeGreaterThan(0)

    // Proofs accepted after the restart are recorded again: replays are refused.
    for (const sample of acceptedAfter.slice(0, 20)) expectReplayRejection(await get(sample.proof))
    // Not asserted: `early` after the restart. This Redis keeps no data across restarts (no
    // persistence), so a proof accepted before the outage and still inside its window would be
    // fresh again; deployments that need more run Redis with persistence or replicas.

    console.info(
      `outage: ${samples.length} requests, ${downSamples.length} answered 503 while down; ` +
        `recovered ${Math.round(recoveredAt! - restartedAt)} ms after the restart`,
    )
    expect(performance.now() - testStarted).toBeLessThan(20_000)
  })
})
