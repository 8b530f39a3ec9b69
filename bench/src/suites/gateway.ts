/**
 * `@keybound/gateway` in front of a plain upstream vs the same DPoP verification done
 * in-process by the API itself (Fastify + `@keybound/server/fastify`), both over real HTTP on
 * 127.0.0.1 with a fresh ES256 proof on every request (pre-signed before each turn).
 *
 * - Throughput: autocannon, 32 connections, requests/s (2xx only) and requests per CPU-second
 *   of the server side (for the gateway: gateway + upstream processes).
 * - Latency: one keep-alive connection, requests one after the other, timed with
 *   `performance.now()` (autocannon's percentiles are whole milliseconds, too coarse for a 1 ms
 *   budget), so the added p50 is the gateway's own cost and not queueing.
 *
 * Beside them, with no target, the ceiling of any verifying gateway on this machine: the direct
 * app's own verification followed by the leanest possible forward to the same upstream (undici,
 * one identity header, nothing else). The distance from the direct route to it is what the hop
 * alone costs; the distance from it to the gateway is what the gateway's features cost.
 *
 * Servers run in child processes (`gateway-child.js`); turns alternate contender by contender
 * in every round and the medians of the rounds are compared.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { Agent, request as httpRequest } from 'node:http'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import type { GatewayAppKind, GatewayChildMessage } from '../children/gateway-child.js'
import { childNodeFlags, stopChild } from '../lib/child-process.js'
import { AUDIENCE, freePort, startIssuer } from '../lib/http-fixtures.js'
import { median } from '../lib/measure.js'
import { dpopRequestPool, generateKeys, type BoundClient } from '../lib/proofs.js'
import {
  evaluateTargets,
  loadRows,
  throughputTurnOf,
  type MeasurementRow,
  type Suite,
  type ThroughputTurn,
} from '../lib/suite.js'

const CHILD = fileURLToPath(new URL('../children/gateway-child.js', import.meta.url))
const CONNECTIONS = 32
const CLIENTS = 16
const PATH = '/items'
const DIRECT = 'keybound/fastify in-process (direct)'
const GATEWAY = 'keybound gateway -> upstream'
const BARE_PROXY = 'in-process verification + bare forward -> upstream (ceiling)'
const ADDED_P50 = 'gateway added p50'

/** A server child process of the suite (also used by the edge suite). */
export interface App {
  readonly child: ChildProcess
  readonly port: number
}

/** What one contender is made of: where requests go and whose CPU counts. */
export interface Contender {
  readonly name: string
  readonly entry: App
  readonly processes: readonly App[]
  /** The request path (default `/items`). */
  readonly path?: string
}

type Client = BoundClient

export type { ThroughputTurn }

export interface LatencyTurn {
  readonly p50: number
  readonly p99: number
  readonly failures: number
}

type Headers = Record<string, string>

/** Forks a server child of `gateway-child.js` and waits until it listens. */
export async function startApp(
  kind: GatewayAppKind,
  issuer: string,
  jwksUri: string,
  upstream?: App,
): Promise<App> {
  const port = await freePort()
  const args = [
    kind,
    String(port),
    issuer,
    jwksUri,
    AUDIENCE,
    ...(upstream ? [String(upstream.port)] : []),
  ]
  const child = fork(CHILD, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: childNodeFlags(),
  })
  const [message] = (await once(child, 'message')) as [GatewayChildMessage]
  if (message.type !== 'ready') {
    throw new Error(
      `${kind} did not start: ${message.type === 'error' ? message.message : message.type}`,
    )
  }
  return { child, port }
}

/** CPU seconds (user + system) the server children have used so far. */
export async function cpuSeconds(apps: readonly App[]): Promise<number> {
  let total = 0
  for (const app of apps) {
    const reply = once(app.child, 'message') as Promise<[GatewayChildMessage]>
    app.child.send({ type: 'cpu' })
    const [message] = await reply
    if (message.type !== 'cpu') throw new Error('unexpected message from a server process')
    total += (message.usage.user + message.usage.system) / 1e6
  }
  return total
}

/** `size` header sets with a fresh proof each for `GET http://127.0.0.1:<port>/items`, signed before timing. */
function headerPool(app: App, clients: readonly Client[], size: number): Promise<Headers[]> {
  return dpopRequestPool(`http://127.0.0.1:${app.port}${PATH}`, clients, size)
}

/** One autocannon turn against a contender; CPU counted over its processes. */
export async function throughputTurn(
  contender: Contender,
  pool: Headers[],
  seconds: number,
): Promise<ThroughputTurn> {
  let next = 0
  const before = await cpuSeconds(contender.processes)
  const result = await autocannon({
    url: `http://127.0.0.1:${contender.entry.port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        path: contender.path ?? PATH,
        setupRequest: (request) => {
          request.headers = pool[next++ % pool.length]!
          return request
        },
      },
    ],
  })
  return throughputTurnOf(result, (await cpuSeconds(contender.processes)) - before)
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!
}

/** Sequential requests on one keep-alive connection, each timed on its own. */
export async function latencyTurn(contender: Contender, pool: Headers[]): Promise<LatencyTurn> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const times: number[] = []
  let failures = 0
  try {
    for (const headers of pool) {
      const started = performance.now()
      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          {
            host: '127.0.0.1',
            port: contender.entry.port,
            path: contender.path ?? PATH,
            method: 'GET',
            headers,
            agent,
          },
          (response) => {
            response.resume()
            response.on('end', () => resolve(response.statusCode ?? 0))
          },
        )
        request.on('error', reject)
        request.end()
      })
      times.push(performance.now() - started)
      // Any 2xx, as autocannon counts it: the 204 check ceiling of the edge suite answers 204.
      if (status < 200 || status > 299) failures++
    }
  } finally {
    agent.destroy()
  }
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 50), p99: percentile(times, 99), failures }
}

/** Milliseconds as the tables print them. */
export const ms = (value: number): string => `${value.toFixed(2)} ms`

/** `count` ES256 clients, each with a token bound to its key (and the token's `ath`). */
export async function boundClients(
  issuer: { mint(jkt: string): Promise<string> },
  count: number,
): Promise<Client[]> {
  const keys = await generateKeys('ES256', count)
  return Promise.all(
    keys.map(async (key) => {
      const token = await issuer.mint(key.jkt)
      return { key, token, ath: createHash('sha256').update(token).digest('base64url') }
    }),
  )
}

/** One p50 row per contender: the median of its rounds, with the p99 and any failures. */
export function latencyRowsOf<C extends Contender>(
  contenders: readonly C[],
  latency: Map<C, LatencyTurn[]>,
): MeasurementRow[] {
  return contenders.map((contender) => {
    const list = latency.get(contender)!
    const failures = list.reduce((sum, each) => sum + each.failures, 0)
    return {
      name: contender.name,
      value: median(list.map((each) => each.p50)),
      rounds: list.map((each) => each.p50),
      note: `p99 ${ms(median(list.map((each) => each.p99)))}${failures > 0 ? `, ${failures} non-2xx` : ''}`,
    }
  })
}

export const gateway: Suite = {
  name: 'gateway',
  description: `@keybound/gateway vs in-process verification, HTTP on loopback, ES256, fresh proof per request`,
  async run(context) {
    const seconds = context.quick ? 1 : 4
    const latencyRequests = context.quick ? 300 : 2000
    const rounds = 3
    const issuer = await startIssuer()
    const apps: App[] = []
    try {
      const clients = await boundClients(issuer, CLIENTS)
      const upstream = await startApp('upstream', issuer.issuer, issuer.jwksUri)
      apps.push(upstream)
      const gatewayApp = await startApp('gateway', issuer.issuer, issuer.jwksUri, upstream)
      apps.push(gatewayApp)
      const direct = await startApp('direct', issuer.issuer, issuer.jwksUri)
      apps.push(direct)
      const bareProxy = await startApp('bare-proxy', issuer.issuer, issuer.jwksUri, upstream)
      apps.push(bareProxy)
      const contenders: Contender[] = [
        { name: DIRECT, entry: direct, processes: [direct] },
        { name: GATEWAY, entry: gatewayApp, processes: [gatewayApp, upstream] },
        { name: BARE_PROXY, entry: bareProxy, processes: [bareProxy, upstream] },
      ]

      // Pools are sized from the fastest rate seen so far (twice over, at least 10,000/s), so
      // that no proof is sent twice even when a turn runs faster than any turn before it.
      let fastest = 10_000
      const poolFor = (contender: Contender, turnSeconds: number) =>
        headerPool(contender.entry, clients, Math.ceil(fastest * turnSeconds * 2) + 1000)

      context.log('  warm-up: 1 s per contender')
      for (const contender of contenders) {
        const warm = await throughputTurn(contender, await poolFor(contender, 1), 1)
        fastest = Math.max(fastest, warm.rps)
        await latencyTurn(contender, await headerPool(contender.entry, clients, 200))
      }
      const throughput = new Map<Contender, ThroughputTurn[]>(
        contenders.map((contender) => [contender, []]),
      )
      const latency = new Map<Contender, LatencyTurn[]>(
        contenders.map((contender) => [contender, []]),
      )
      for (let round = 0; round < rounds; round++) {
        context.log(
          `  round ${round + 1}/${rounds}: ${contenders.length} contenders × (${seconds} s + ${latencyRequests} sequential requests)`,
        )
        for (const contender of contenders) {
          const result = await throughputTurn(contender, await poolFor(contender, seconds), seconds)
          fastest = Math.max(fastest, result.rps)
          throughput.get(contender)!.push(result)
        }
        for (const contender of contenders) {
          latency
            .get(contender)!
            .push(
              await latencyTurn(
                contender,
                await headerPool(contender.entry, clients, latencyRequests),
              ),
            )
        }
      }

      const rps = loadRows(contenders, throughput, (each) => each.rps)
      const cpu = loadRows(contenders, throughput, (each) => each.perCpuSecond)
      const latencyRows = latencyRowsOf(contenders, latency)
      const added = latencyRows[1]!.value - latencyRows[0]!.value
      const addedRows: MeasurementRow[] = [
        {
          name: ADDED_P50,
          value: added,
          note: `${ms(latencyRows[1]!.value)} - ${ms(latencyRows[0]!.value)}`,
        },
      ]
      return [
        {
          name: `requests/s, ${CONNECTIONS} connections`,
          unit: 'req/s',
          higherIsBetter: true,
          baseline: DIRECT,
          rows: rps,
          targets: evaluateTargets(rps, [{ contender: GATEWAY, baseline: DIRECT, min: 0.8 }]),
        },
        {
          name: 'requests per server CPU-second (gateway: gateway + upstream)',
          unit: 'req/CPU-s',
          higherIsBetter: true,
          baseline: DIRECT,
          rows: cpu,
          targets: [],
        },
        {
          name: 'latency p50, 1 connection, sequential',
          unit: 'ms',
          higherIsBetter: false,
          baseline: DIRECT,
          rows: latencyRows,
          targets: [],
        },
        {
          name: 'added latency p50 (gateway - direct)',
          unit: 'ms',
          higherIsBetter: false,
          baseline: ADDED_P50,
          rows: addedRows,
          targets: evaluateTargets(addedRows, [{ contender: ADDED_P50, max: 1 }]),
        },
      ]
    } finally {
      await Promise.all(apps.map((app) => stopChild(app.child)))
      issuer.server.closeAllConnections()
      issuer.server.close()
    }
  },
}
