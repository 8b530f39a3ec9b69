/**
 * A bounded soak of the gateway and of a resource server (`@keybound/server/node`) at a steady
 * rate on loopback: requests are started on a fixed schedule (open loop, so a slow server cannot
 * slow the load down), each with a fresh proof, with a replay mixed in now and then. Zero 5xx,
 * every replay refused, memory stable (RSS at start and end printed), latency percentiles
 * printed. `SOAK_SECONDS` sets the length of each phase (default 10).
 */
import { Agent, createServer, request } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof, type DPoPKeyPair } from '@keybound/core'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { protect } from '@keybound/server/node'
import { recordReliability } from '@keybound/test-kit/reliability'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import {
  AUDIENCE,
  ISSUER,
  baseConfig,
  clientKey,
  startGateway,
  type RunningGateway,
} from './support/fixture.js'
import { startUpstream, type TestUpstream } from './support/upstream.js'
import { listen } from '@keybound/test-kit/net'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 10)
const RATE = 250 // requests per second
const REPLAY_EVERY = 25

let issuer: TestIssuer
let upstream: TestUpstream
let gateway: RunningGateway
let rs: { url: string; close(): Promise<void> }
let key: DPoPKeyPair
let token: string
const agent = new Agent({ keepAlive: true, maxSockets: 64 })

beforeAll(async () => {
  issuer = await startTestIssuer(ISSUER)
  upstream = await startUpstream()
  gateway = await startGateway(baseConfig(issuer, upstream, { log: { level: 'silent' } }))
  const resourceServer = createResourceServer({
    publicBaseUrl: AUDIENCE,
    accessTokens: jwtAccessTokens({
      issuer: issuer.issuer,
      audience: AUDIENCE,
      jwksUri: issuer.jwksUri,
    }),
  })
  const server = createServer(
    protect(resourceServer, (_req, res, identity) => res.end(identity.subject), {
      scopes: ['items:read'],
    }),
  )
  rs = await listen(server)
  key = await clientKey()
  token = await issuer.mint({ sub: 'alice', scope: 'items:read', jkt: key.jkt })
})

afterAll(async () => {
  agent.destroy()
  await gateway?.gateway.close()
  await rs?.close()
  await upstream?.close()
  await issuer?.close()
})

function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')))
    req.end()
  })
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

interface SoakResult {
  sent: number
  statuses: Map<number, number>
  /** Pairs (original, replay) that were both accepted: one of a pair may be, never both. */
  acceptedReplays: number
  rssStart: number
  rssEnd: number
  heapStart: number
  heapEnd: number
  p50: number
  p95: number
  p99: number
  max: number
}

// A full collection before each heap reading, so that the comparison is of live memory, not of
// when the collector last ran (RSS alone moves by tens of MB with V8's heap sizing).
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

function liveHeap(): number {
  collectGarbage()
  return process.memoryUsage().heapUsed
}

async function soak(base: string, path: string): Promise<SoakResult> {
  const latencies: number[] = []
  const statuses = new Map<number, number>()
  let previous: Record<string, string> | undefined
  let previousStatus: Promise<number> | undefined
  const inFlight: Promise<void>[] = []
  // Each replay with its original: both are in flight at once and verified concurrently, so
  // either may be recorded first; exactly one of the two may be accepted.
  const pairs: Promise<[number, number]>[] = []
  // RSS is taken after a warm-up fifth of the run: JIT code, buffer pools and connection state
  // that a fresh process builds once are not growth.
  let rssStart = process.memoryUsage().rss
  let heapStart = 0
  const started = performance.now()
  const total = SECONDS * RATE
  const warmUp = Math.floor(total / 5)
  for (let i = 0; i < total; i++) {
    if (i === warmUp) {
      heapStart = liveHeap()
      rssStart = process.memoryUsage().rss
    }
    // Open loop: request i starts at i / RATE seconds, whatever the answers before it did.
    const due = started + (i * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    const replay = i % REPLAY_EVERY === REPLAY_EVERY - 1 && previous !== undefined
    const headers =
      replay && previous !== undefined
        ? previous
        : {
            authorization: `DPoP ${token}`,
            dpop: await createProof(key, {
              htm: 'GET',
              htu: `${AUDIENCE}${path}`,
              accessToken: token,
            }),
          }
    const sentAt = performance.now()
    const status = get(`${base}${path}`, headers)
    if (replay && previousStatus !== undefined) pairs.push(Promise.all([previousStatus, status]))
    if (!replay) {
      previous = headers
      previousStatus = status
    }
    inFlight.push(
      status.then((code) => {
        latencies.push(performance.now() - sentAt)
        statuses.set(code, (statuses.get(code) ?? 0) + 1)
      }),
    )
  }
  await Promise.all(inFlight)
  const acceptedReplays = (await Promise.all(pairs)).filter(
    ([original, copy]) => original < 300 && copy < 300,
  ).length
  const heapEnd = liveHeap()
  const rssEnd = process.memoryUsage().rss
  latencies.sort((a, b) => a - b)
  return {
    sent: total,
    statuses,
    acceptedReplays,
    rssStart,
    rssEnd,
    heapStart,
    heapEnd,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies.at(-1)!,
  }
}

function report(name: string, result: SoakResult): string {
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
  const line =
    `${name}: ${result.sent} requests at ${RATE}/s for ${SECONDS} s; statuses ` +
    `${JSON.stringify(Object.fromEntries(result.statuses))}; latency ms p50 ${result.p50.toFixed(1)} ` +
    `p95 ${result.p95.toFixed(1)} p99 ${result.p99.toFixed(1)} max ${result.max.toFixed(1)}; ` +
    `RSS after warm-up ${mb(result.rssStart)} -> end ${mb(result.rssEnd)} MB; ` +
    `live heap ${mb(result.heapStart)} -> ${mb(result.heapEnd)} MB`
  console.info(line)
  return line
}

function expectHealthy(result: SoakResult): void {
  const fivexx = [...result.statuses].filter(([status]) => status >= 500)
  expect(fivexx).toEqual([])
  expect(result.acceptedReplays).toBe(0)
  const replays = Math.floor(result.sent / REPLAY_EVERY)
  expect(result.statuses.get(401)).toBe(replays)
  expect(result.statuses.get(200)).toBe(result.sent - replays)
  // Stable memory after the warm-up: the live heap does not grow with the requests served (a
  // leak of 4 KB per request would be 8 MB here). RSS is reported; V8 sizes it as it likes.
  expect(result.heapEnd - result.heapStart).toBeLessThan(8 * 1024 * 1024)
}

describe('bounded soak at a steady rate', () => {
  it(`the gateway: zero 5xx, no replay accepted, stable memory (${SECONDS} s at ${RATE}/s)`, async () => {
    const result = await soak(gateway.url, '/items/1')
    const line = report('gateway soak', result)
    expectHealthy(result)
    recordReliability('gateway-soak', {
      requestsServed: result.sent,
      acceptedReplays: result.acceptedReplays,
      rssStart: result.rssStart,
      rssEnd: result.rssEnd,
      heapStart: result.heapStart,
      heapEnd: result.heapEnd,
      notes: [line],
    })
  }, 120_000)

  it(`the resource server (node adapter): the same (${SECONDS} s at ${RATE}/s)`, async () => {
    const result = await soak(rs.url, '/items')
    const line = report('resource-server soak', result)
    expectHealthy(result)
    recordReliability('server-soak', {
      requestsServed: result.sent,
      acceptedReplays: result.acceptedReplays,
      rssStart: result.rssStart,
      rssEnd: result.rssEnd,
      heapStart: result.heapStart,
      heapEnd: result.heapEnd,
      notes: [line],
    })
  }, 120_000)
})
