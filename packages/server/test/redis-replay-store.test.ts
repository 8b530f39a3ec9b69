/**
 * The Redis replay store against real Redis: the shared server at `REDIS_URL` (required, never
 * skipped) and throwaway `redis-server` children for the failure cases (closed port, frozen
 * process, three-node cluster).
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  generateKeyPair,
  createProof,
  InvalidArgument,
  ProofReplayed,
  ReplayStoreUnavailable,
  verifyProof,
} from '@keybound/core'
import {
  HASHED_KEY_LENGTH,
  createRedisReplayStore,
  type RedisReplayStore,
} from '@keybound/server/redis'
import { createClient, createCluster } from 'redis'
import { afterAll, describe, expect, it } from 'vitest'
import {
  deleteKeys,
  redisChild,
  redisCluster,
  requireRedisUrl,
  type RedisChild,
  type RedisClusterChildren,
  uniqueKeyPrefix,
} from '@keybound/test-kit/redis'
import { freePort } from '@keybound/test-kit/net'

const REDIS_URL = requireRedisUrl()
const JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'
const TTL = 60_000
// Every key of this run lives under one prefix, deleted in afterAll.
const RUN_PREFIX = uniqueKeyPrefix('redis-replay-store')
const stores: RedisReplayStore[] = []

function store(suffix: string, options: { commandTimeoutMs?: number } = {}): RedisReplayStore {
  const created = createRedisReplayStore({
    url: REDIS_URL,
    keyPrefix: `${RUN_PREFIX}${suffix}:`,
    ...options,
  })
  stores.push(created)
  return created
}

async function ready(target: RedisReplayStore): Promise<RedisReplayStore> {
  // Bounded: 100 × 20 ms. The store connects in the background.
  for (
    let attempt = 0;
    attempt < 100 && !('isReady' in target.client && target.client.isReady);
    attempt++
  ) {
    await sleep(20)
  }
  return target
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

afterAll(async () => {
  await Promise.all(stores.map((each) => each.close()))
  await deleteKeys(REDIS_URL, RUN_PREFIX)
})

describe('createRedisReplayStore on REDIS_URL', () => {
  it('answers true for the first use of (jkt, jti) and false after', async () => {
    const s = await ready(store('basic'))
    const jti = randomUUID()
    expect(await s.checkAndRecord(JKT, jti, TTL)).toBe(true)
    expect(await s.checkAndRecord(JKT, jti, TTL)).toBe(false)
    expect(await s.checkAndRecord(JKT, jti, TTL)).toBe(false)
    // The pair is the identity: another key or another jti is a different proof.
    expect(await s.checkAndRecord('another-thumbprint', jti, TTL)).toBe(true)
    expect(await s.checkAndRecord(JKT, randomUUID(), TTL)).toBe(true)
  })

  it('keeps the (jkt, jti) encoding unambiguous', async () => {
    const s = await ready(store('ambiguity'))
    expect(await s.checkAndRecord('ab', 'c', TTL)).toBe(true)
    expect(await s.checkAndRecord('a', 'bc', TTL)).toBe(true)
    expect(await s.checkAndRecord('ab', 'c', TTL)).toBe(false)
  })

  it('forgets a pair when its TTL has passed, and sets PX to the TTL', async () => {
    const s = await ready(store('ttl'))
    // PX is read from a long-lived entry: a short one may be gone before a busy machine looks.
    expect(await s.checkAndRecord(JKT, randomUUID(), TTL)).toBe(true)
    const inspector = createClient({ url: REDIS_URL })
    await inspector.connect()
    try {
      const keys = await inspector.keys(`${s.keyPrefix}*`)
      expect(keys).toHaveLength(1)
      const pttl = await inspector.pTTL(keys[0]!)
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(TTL)
    } finally {
      inspector.destroy()
    }
    const jti = randomUUID()
    expect(await s.checkAndRecord(JKT, jti, 1_000)).toBe(true)
    expect(await s.checkAndRecord(JKT, jti, 1_000)).toBe(false)
    await sleep(1_500)
    expect(await s.checkAndRecord(JKT, jti, 1_000)).toBe(true)
    // A fractional or zero TTL still becomes a valid PX (at least 1 ms), not a Redis error.
    expect(await s.checkAndRecord(JKT, randomUUID(), 0)).toBe(true)
    expect(await s.checkAndRecord(JKT, randomUUID(), 0.4)).toBe(true)
  })

  it('isolates stores with different key prefixes and shares one prefix', async () => {
    const a = await ready(store('prefix-a'))
    const b = await ready(store('prefix-b'))
    const a2 = await ready(store('prefix-a'))
    const jti = randomUUID()
    expect(await a.checkAndRecord(JKT, jti, TTL)).toBe(true)
    expect(await b.checkAndRecord(JKT, jti, TTL)).toBe(true)
    expect(await a2.checkAndRecord(JKT, jti, TTL)).toBe(false)
    expect(await b.checkAndRecord(JKT, jti, TTL)).toBe(false)
  })

  it('stores a very long jti under a fixed-length key that does not contain it', async () => {
    const s = await ready(store('long'))
    const longJti = 'J'.repeat(200_000)
    expect(await s.checkAndRecord(JKT, longJti, TTL)).toBe(true)
    expect(await s.checkAndRecord(JKT, longJti, TTL)).toBe(false)
    // Differs only in the last character: a different proof.
    expect(await s.checkAndRecord(JKT, `${'J'.repeat(199_999)}K`, TTL)).toBe(true)
    const inspector = createClient({ url: REDIS_URL })
    await inspector.connect()
    try {
      const keys = await inspector.keys(`${s.keyPrefix}*`)
      expect(keys).toHaveLength(2)
      for (const key of keys) {
        expect(key).toHaveLength(s.keyPrefix.length + HASHED_KEY_LENGTH)
        expect(key).toMatch(/^[\w:-]+$/)
        expect(key.includes('JJJJ')).toBe(false)
        expect(await inspector.get(key)).toBe('1')
        // Key and value together stay small (Redis' own accounting, overhead included).
        expect(await inspector.memoryUsage(key)).toBeLessThan(256)
      }
    } finally {
      inspector.destroy()
    }
  })

  it('accepts exactly one of 1,000 concurrent checks of the same pair from four connections', async () => {
    const shared = await Promise.all([1, 2, 3, 4].map(() => ready(store('race'))))
    const jti = randomUUID()
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, index) => shared[index % 4]!.checkAndRecord(JKT, jti, TTL)),
    )
    expect(results.filter((fresh) => fresh)).toHaveLength(1)
    expect(results.filter((fresh) => !fresh)).toHaveLength(999)
  })

  it('records distinct proofs concurrently: 1,000 pairs, 1,000 trues, then 1,000 falses', async () => {
    const s = await ready(store('many'))
    const jtis = Array.from({ length: 1000 }, () => randomUUID())
    const first = await Promise.all(jtis.map((jti) => s.checkAndRecord(JKT, jti, TTL)))
    expect(first.every((fresh) => fresh)).toBe(true)
    const second = await Promise.all(jtis.map((jti) => s.checkAndRecord(JKT, jti, TTL)))
    expect(second.some((fresh) => fresh)).toBe(false)
  })

  it('is what verifyProof records into: the second verification is a replay', async () => {
    const s = await ready(store('verify'))
    const key = await generateKeyPair('ES256')
    const request = { method: 'GET', url: 'https://api.example.com/items' }
    const proof = await createProof(key, { htm: 'GET', htu: request.url })
    const verified = await verifyProof(proof, request, { replayStore: s })
    expect(verified.jkt).toBe(key.jkt)
    const error = await rejection(verifyProof(proof, request, { replayStore: s }))
    expect(error).toBeInstanceOf(ProofReplayed)
  })

  it('keeps a proof dated at the future edge until iat + maxAge + clockTolerance ends (Redis clock)', async () => {
    const s = await ready(store('iat-edge'))
    const key = await generateKeyPair('ES256')
    const request = { method: 'GET', url: 'https://api.example.com/items' }
    const verifiedAt = Date.now()
    const iat = Math.floor(verifiedAt / 1000) + 10 // the future edge of the default window
    const proof = await createProof(key, { htm: 'GET', htu: request.url, iat })
    await verifyProof(proof, request, { replayStore: s, now: () => verifiedAt })
    const inspector = createClient({ url: REDIS_URL })
    await inspector.connect()
    try {
      const [recorded] = await inspector.keys(`${s.keyPrefix}*`)
      const pttl = await inspector.pTTL(recorded!)
      // Read after the answer, so answeredAt + pttl is at least when Redis will drop the key.
      const answeredAt = Date.now()
      // The entry lives until second iat + 60 + 10 ends (a 70 s TTL from now ended 11 s early).
      expect(answeredAt + pttl).toBeGreaterThanOrEqual((iat + 60 + 10 + 1) * 1000 - 2)
    } finally {
      inspector.destroy()
    }
  })

  it('refuses a replay at an instance whose clock is clockTolerance behind, after a now-based TTL ran out', async () => {
    // A at real time T accepts a proof at the future edge; B's clock reads 3 s less than the
    // real one. Short windows keep the test short: maxAge 1 s, clockTolerance 3 s. A TTL of
    // maxAge + clockTolerance from now (4 s) runs out before B stops accepting the proof.
    const s = await ready(store('skew'))
    const key = await generateKeyPair('ES256')
    const request = { method: 'GET', url: 'https://api.example.com/items' }
    const windows = { maxAge: 1, clockTolerance: 3 }
    const acceptedAt = Date.now()
    const iat = Math.floor(acceptedAt / 1000) + 3
    const proof = await createProof(key, { htm: 'GET', htu: request.url, iat })
    await verifyProof(proof, request, { replayStore: s, ...windows, now: () => acceptedAt })
    await sleep(4300)
    // B reads acceptedAt + 3.5 s whenever it runs: for B, iat is neither stale nor in the future.
    const error = await rejection(
      verifyProof(proof, request, { replayStore: s, ...windows, now: () => acceptedAt + 3500 }),
    )
    expect(error).toBeInstanceOf(ProofReplayed)
  })

  it('leaves a client it was given open, and closes its own', async () => {
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    try {
      const given = createRedisReplayStore({ client, keyPrefix: `${RUN_PREFIX}given:` })
      const jti = randomUUID()
      expect(await given.checkAndRecord(JKT, jti, TTL)).toBe(true)
      expect(await given.checkAndRecord(JKT, jti, TTL)).toBe(false)
      await given.close()
      expect(client.isReady).toBe(true)
      expect(await client.ping()).toBe('PONG')
      const closedError = await rejection(given.checkAndRecord(JKT, randomUUID(), TTL))
      expect(closedError).toBeInstanceOf(ReplayStoreUnavailable)
    } finally {
      client.destroy()
    }
    const own = await ready(
      createRedisReplayStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}own:` }),
    )
    await own.close()
    expect(own.client.isOpen).toBe(false)
    await own.close()
  })

  it('validates its options when it is built', () => {
    expect(() => createRedisReplayStore({})).toThrow(InvalidArgument)
    expect(() => createRedisReplayStore({ url: 'http://127.0.0.1:6379' })).toThrow(InvalidArgument)
    expect(() => createRedisReplayStore({ url: '' })).toThrow(InvalidArgument)
    const client = createClient({ url: REDIS_URL })
    expect(() => createRedisReplayStore({ client, url: REDIS_URL })).toThrow(InvalidArgument)
    expect(() => createRedisReplayStore({ client, commandTimeoutMs: 0 })).toThrow(InvalidArgument)
    expect(() => createRedisReplayStore({ client, commandTimeoutMs: Number.NaN })).toThrow(
      InvalidArgument,
    )
    expect(() => createRedisReplayStore({ client: {} as never })).toThrow(InvalidArgument)
  })
})

describe('createRedisReplayStore when Redis cannot answer', () => {
  let child: RedisChild | undefined
  let cluster: RedisClusterChildren | undefined
  let clusterDirectory: string | undefined

  afterAll(async () => {
    await child?.kill()
    await cluster?.kill()
    if (clusterDirectory !== undefined) await rm(clusterDirectory, { recursive: true, force: true })
  })

  it('fails fast with ReplayStoreUnavailable (unreachable) when nothing listens, without crashing', async () => {
    const port = await freePort()
    const errors: unknown[] = []
    const s = createRedisReplayStore({
      url: `redis://127.0.0.1:${port}`,
      onError: (error) => errors.push(error),
    })
    stores.push(s)
    // Let the background connection fail a few times: every failure is an `error` event.
    await sleep(300)
    for (let attempt = 0; attempt < 20; attempt++) {
      const started = performance.now()
      const error = await rejection(s.checkAndRecord(JKT, randomUUID(), TTL))
      // Fails at once rather than after the 1 s command timeout (room left for a busy CI machine).
      expect(performance.now() - started).toBeLessThan(500)
      expect(error).toBeInstanceOf(ReplayStoreUnavailable)
      expect((error as ReplayStoreUnavailable).code).toBe('ERR_DPOP_REPLAY_STORE_UNAVAILABLE')
      expect((error as ReplayStoreUnavailable).reason).toBe('unreachable')
    }
    expect(errors.length).toBeGreaterThan(0)
    await s.close()
  })

  it('times out a hung Redis within commandTimeoutMs and recovers when it answers again', async () => {
    child = await redisChild()
    await child.start()
    const s = await ready(
      createRedisReplayStore({ url: child.url, keyPrefix: 'hung:', commandTimeoutMs: 200 }),
    )
    stores.push(s)
    expect(await s.checkAndRecord(JKT, 'before', TTL)).toBe(true)
    child.freeze()
    try {
      const started = performance.now()
      const errors = await Promise.all(
        Array.from({ length: 10 }, () => rejection(s.checkAndRecord(JKT, randomUUID(), TTL))),
      )
      const elapsed = performance.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(190)
      expect(elapsed).toBeLessThan(1000)
      for (const error of errors) {
        expect(error).toBeInstanceOf(ReplayStoreUnavailable)
        expect((error as ReplayStoreUnavailable).reason).toBe('unreachable')
      }
    } finally {
      child.thaw()
    }
    expect(await s.checkAndRecord(JKT, 'after', TTL)).toBe(true)
    expect(await s.checkAndRecord(JKT, 'before', TTL)).toBe(false)
  })

  it('works with a createCluster client: one key per command, no hash tags needed', async () => {
    clusterDirectory = await mkdtemp(join(tmpdir(), 'keybound-redis-cluster-'))
    cluster = await redisCluster(clusterDirectory)
    const client = createCluster({
      rootNodes: cluster.nodes.map((node) => ({ url: node.url })),
      defaults: { disableOfflineQueue: true },
    })
    client.on('error', () => {})
    await client.connect()
    try {
      const s = createRedisReplayStore({ client, keyPrefix: 'cluster:' })
      const jtis = Array.from({ length: 300 }, () => randomUUID())
      const first = await Promise.all(jtis.map((jti) => s.checkAndRecord(JKT, jti, TTL)))
      expect(first.every((fresh) => fresh)).toBe(true)
      const second = await Promise.all(jtis.map((jti) => s.checkAndRecord(JKT, jti, TTL)))
      expect(second.some((fresh) => fresh)).toBe(false)
      const race = await Promise.all(
        Array.from({ length: 200 }, () => s.checkAndRecord(JKT, 'race', TTL)),
      )
      expect(race.filter((fresh) => fresh)).toHaveLength(1)
      // The keys spread over the three masters instead of piling on one slot.
      const counts = await Promise.all(
        cluster.nodes.map(async (node) => {
          const direct = createClient({ url: node.url })
          await direct.connect()
          try {
            return await direct.dbSize()
          } finally {
            direct.destroy()
          }
        }),
      )
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(301)
      for (const count of counts) expect(count).toBeGreaterThan(30)
    } finally {
      client.destroy()
    }
  })
})
