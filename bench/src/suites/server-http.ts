/**
 * Resource servers over real HTTP on 127.0.0.1, driven by autocannon with a fresh DPoP proof on
 * every request (pre-signed before each turn, attached by `setupRequest`). In one run:
 *
 * - Express: Keybound's `dpop()` middleware vs `express-oauth2-jwt-bearer` with DPoP required,
 *   two routes of the same Express app (the peer does not record `jti`s; Keybound does, in
 *   memory, so Keybound does strictly more work per request), and beside them two ceilings on
 *   that app: a route that checks the proof's signature and nothing else (the most any DPoP
 *   verifier can do there) and a route with no verification at all;
 * - Fastify: Keybound's preHandler (DPoP: token + proof + replay check) vs a route that only
 *   verifies a Bearer JWT with `jose`, in the same Fastify app;
 * - Fastify: Keybound with the Redis replay store vs the in-memory store, 64 connections.
 *
 * Each app runs in its own child process, so its CPU time (user + system, `process.cpuUsage()`
 * read over IPC before and after each turn) is the server's alone. Reported: requests/s (2xx
 * only), requests per CPU-second of the server, and p50/p99 latency; turns alternate contender
 * by contender in every round and the medians of the rounds are compared.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'

import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import type { AppKind, ChildMessage } from '../children/server-http-child.js'
import { childNodeFlags, stopChild } from '../lib/child-process.js'
import { AUDIENCE, freePort, startIssuer } from '../lib/http-fixtures.js'
import { median } from '../lib/measure.js'
import { dpopRequestPool, generateKeys, type BenchKey } from '../lib/proofs.js'
import {
  evaluateTargets,
  loadRows,
  throughputTurnOf,
  type CaseResult,
  type MeasurementRow,
  type Suite,
  type ThroughputTurn,
} from '../lib/suite.js'

const CHILD = fileURLToPath(new URL('../children/server-http-child.js', import.meta.url))
const CONNECTIONS = 64
const CLIENTS = 16

interface HttpContender {
  readonly name: string
  readonly app: AppKind
  readonly path: string
  readonly scheme: 'DPoP' | 'Bearer'
}

const AUTH0: HttpContender = {
  name: 'express-oauth2-jwt-bearer (DPoP)',
  app: 'express',
  path: '/auth0',
  scheme: 'DPoP',
}
const KEYBOUND_EXPRESS: HttpContender = {
  name: 'keybound/express (DPoP)',
  app: 'express',
  path: '/keybound',
  scheme: 'DPoP',
}
const JOSE_BEARER: HttpContender = {
  name: 'fastify + jose (Bearer only)',
  app: 'fastify',
  path: '/jose-bearer',
  scheme: 'Bearer',
}
const KEYBOUND_FASTIFY: HttpContender = {
  name: 'keybound/fastify (DPoP, memory store)',
  app: 'fastify',
  path: '/keybound',
  scheme: 'DPoP',
}
const KEYBOUND_REDIS: HttpContender = {
  name: 'keybound/fastify (DPoP, Redis store)',
  app: 'fastify',
  path: '/keybound-redis',
  scheme: 'DPoP',
}
// Not a contender but the ceiling: the same Express app answering the same body with no
// verification at all (the DPoP headers are sent and ignored). No Express route can be faster.
const EXPRESS_CEILING: HttpContender = {
  name: 'express, no verification (ceiling)',
  app: 'express',
  path: '/plain',
  scheme: 'DPoP',
}
// The second ceiling: the same app with the proof's signature checked and nothing else, the one
// cost per request no DPoP verifier can skip (fresh proofs cannot be cached). A bound on every
// implementation, not a contender: it accepts any self-signed proof.
const SIGNATURE_CEILING: HttpContender = {
  name: 'express + proof signature check only (ceiling of any DPoP verifier)',
  app: 'express',
  path: '/signature-only',
  scheme: 'DPoP',
}
const CONTENDERS = [
  AUTH0,
  KEYBOUND_EXPRESS,
  SIGNATURE_CEILING,
  EXPRESS_CEILING,
  JOSE_BEARER,
  KEYBOUND_FASTIFY,
  KEYBOUND_REDIS,
]

interface Client {
  readonly key: BenchKey
  /** RFC 9068 JWT bound to the key (`cnf.jkt`), and its `ath`. */
  readonly boundToken: string
  readonly ath: string
  /** The same token without `cnf`, for the Bearer-only route. */
  readonly bearerToken: string
}

interface App {
  readonly child: ChildProcess
  readonly port: number
}

type Headers = Record<string, string>

async function startApp(kind: AppKind, issuer: string, jwksUri: string): Promise<App> {
  const port = await freePort()
  const child = fork(CHILD, [kind, String(port), issuer, jwksUri, AUDIENCE], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: childNodeFlags(),
  })
  const [message] = (await once(child, 'message')) as [ChildMessage]
  if (message.type !== 'ready') {
    throw new Error(
      `${kind} app did not start: ${message.type === 'error' ? message.message : message.type}`,
    )
  }
  return { child, port }
}

async function cpuSeconds(app: App): Promise<number> {
  const reply = once(app.child, 'message') as Promise<[ChildMessage]>
  app.child.send({ type: 'cpu' })
  const [message] = await reply
  if (message.type !== 'cpu') throw new Error('unexpected message from the server process')
  return (message.usage.user + message.usage.system) / 1e6
}

/**
 * `size` request header sets, one fresh proof each (distinct `jti`, `ath` of the client's token,
 * `htu` of the route), round-robin over the clients; signed on the thread pool, before timing.
 */
async function headerPool(
  contender: HttpContender,
  app: App,
  clients: readonly Client[],
  size: number,
): Promise<Headers[]> {
  if (contender.scheme === 'Bearer') {
    return clients.map((client) => ({ authorization: `Bearer ${client.bearerToken}` }))
  }
  const bound = clients.map(({ key, boundToken, ath }) => ({ key, token: boundToken, ath }))
  return dpopRequestPool(`http://127.0.0.1:${app.port}${contender.path}`, bound, size)
}

async function turn(
  app: App,
  contender: HttpContender,
  pool: Headers[],
  seconds: number,
): Promise<ThroughputTurn> {
  let next = 0
  const before = await cpuSeconds(app)
  const result = await autocannon({
    url: `http://127.0.0.1:${app.port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        path: contender.path,
        setupRequest: (request) => {
          request.headers = pool[next++ % pool.length]!
          return request
        },
      },
    ],
  })
  return throughputTurnOf(result, (await cpuSeconds(app)) - before)
}

function rows(
  contenders: readonly HttpContender[],
  turns: Map<HttpContender, ThroughputTurn[]>,
): MeasurementRow[] {
  return loadRows(contenders, turns, (turn) => turn.rps).map((row, i) => ({
    ...row,
    perCpuSecond: median(turns.get(contenders[i]!)!.map((each) => each.perCpuSecond)),
  }))
}

/**
 * One comparison: requests/s (held to `minRatio`) with requests per server CPU-second beside it;
 * `references` are shown in the same table with no target.
 */
function comparison(
  title: string,
  baseline: HttpContender,
  contender: HttpContender,
  turns: Map<HttpContender, ThroughputTurn[]>,
  minRatio: number,
  references: readonly HttpContender[] = [],
): CaseResult {
  const measured = rows([baseline, contender, ...references], turns)
  return {
    name: title,
    unit: 'req/s',
    higherIsBetter: true,
    baseline: baseline.name,
    rows: measured,
    targets: evaluateTargets(measured, [
      { contender: contender.name, baseline: baseline.name, min: minRatio },
    ]),
  }
}

export const serverHttp: Suite = {
  name: 'server-http',
  description: `resource servers over HTTP on loopback, ES256, fresh proof per request, ${CONNECTIONS} connections (autocannon)`,
  async run(context) {
    const seconds = context.quick ? 1 : 5
    const rounds = 3
    const issuer = await startIssuer()
    const apps = new Map<AppKind, App>()
    try {
      const keys = await generateKeys('ES256', CLIENTS)
      const clients: Client[] = await Promise.all(
        keys.map(async (key) => {
          const boundToken = await issuer.mint(key.jkt)
          return {
            key,
            boundToken,
            ath: createHash('sha256').update(boundToken).digest('base64url'),
            bearerToken: await issuer.mint(),
          }
        }),
      )
      apps.set('express', await startApp('express', issuer.issuer, issuer.jwksUri))
      apps.set('fastify', await startApp('fastify', issuer.issuer, issuer.jwksUri))

      // Pools are sized from the contender's fastest rate so far (twice over, at least 4,000/s), so
      // that no proof is sent twice: a replayed proof would be refused by Keybound alone.
      const fastest = new Map<HttpContender, number>()
      const poolFor = (contender: HttpContender, turnSeconds: number): Promise<Headers[]> =>
        headerPool(
          contender,
          apps.get(contender.app)!,
          clients,
          Math.ceil(Math.max(fastest.get(contender) ?? 10_000, 4000) * turnSeconds * 2) + 1000,
        )
      const record = (contender: HttpContender, result: ThroughputTurn): void => {
        fastest.set(contender, Math.max(fastest.get(contender) ?? 0, result.rps))
      }

      context.log(`  warm-up: 1 s per contender`)
      for (const contender of CONTENDERS) {
        record(
          contender,
          await turn(apps.get(contender.app)!, contender, await poolFor(contender, 1), 1),
        )
      }
      const turns = new Map<HttpContender, ThroughputTurn[]>(
        CONTENDERS.map((contender) => [contender, []]),
      )
      for (let round = 0; round < rounds; round++) {
        context.log(
          `  round ${round + 1}/${rounds}: ${CONTENDERS.length} contenders × ${seconds} s`,
        )
        for (const contender of CONTENDERS) {
          const pool = await poolFor(contender, seconds)
          const result = await turn(apps.get(contender.app)!, contender, pool, seconds)
          record(contender, result)
          turns.get(contender)!.push(result)
        }
      }
      return [
        comparison('Express, DPoP route', AUTH0, KEYBOUND_EXPRESS, turns, 3, [
          SIGNATURE_CEILING,
          EXPRESS_CEILING,
        ]),
        comparison('Fastify, DPoP vs Bearer-only', JOSE_BEARER, KEYBOUND_FASTIFY, turns, 1),
        comparison('Fastify DPoP, replay store', KEYBOUND_FASTIFY, KEYBOUND_REDIS, turns, 0.8),
      ]
    } finally {
      await Promise.all([...apps.values()].map((app) => stopChild(app.child)))
      issuer.server.closeAllConnections()
      issuer.server.close()
    }
  },
}
