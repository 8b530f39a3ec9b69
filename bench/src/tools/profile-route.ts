/**
 * One HTTP route of the benchmark driven alone, profiled, and its CPU broken down per request:
 *
 *   node bench/dist/tools/profile-route.js <route> [requests] [--by-function N] [--keep DIR]
 *   node bench/dist/tools/profile-route.js <route> [requests] --instructions
 *
 * Routes: `express-keybound` (Keybound's `dpop()` route of the server-http suite),
 * `express-signature` (its signature-only ceiling), `gateway` (the gateway suite's gateway in
 * front of its upstream), `bare-proxy` (that suite's bare-forward ceiling). The route's server
 * child is started as the suites start it, with `lib/profile-hook.js` preloaded; 2,000
 * requests warm it up, then the main thread is profiled over `requests` more (default 20,000,
 * 32 connections, a fresh ES256 proof each) and the CPU time of every thread is read over the
 * same span. Sample times are scaled to the main thread's CPU time (on a busy machine a sample
 * also counts time spent waiting for a core), and the thread pool (offloaded signature checks)
 * and V8's own threads are added as rows of their own. For the gateway and the bare forward,
 * the upstream process's CPU per request is printed too (the same upstream serves both).
 *
 * With `--instructions` the server child runs under `valgrind --tool=callgrind` instead (every
 * thread counted, the thread pool's signature checks too), with `lib/instructions.ts`'s marker
 * (`uv_os_getpriority`) called by the hook before and after the counted requests: the result is
 * instructions per request, which does not depend on the machine's load (default 500
 * requests after 600 warm-up ones, 4 connections; valgrind runs Node some 50x slower).
 */
import { execFile, fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import type { ThreadTimes } from '../lib/profile-hook.js'
import {
  categoryRows,
  formatRows,
  functionRows,
  takeOption,
  totalsOf,
  type CpuProfile,
} from '../lib/profile-analysis.js'
import { stopChild } from '../lib/child-process.js'
import { AUDIENCE, freePort, startIssuer } from '../lib/http-fixtures.js'
import { dpopRequestPool, type BoundClient } from '../lib/proofs.js'
import { boundClients } from '../suites/gateway.js'
import { CHILD_NODE_FLAGS, MARKER_FUNCTION } from '../lib/instructions.js'

const HOOK = fileURLToPath(new URL('../lib/profile-hook.js', import.meta.url))
const SERVER_HTTP_CHILD = fileURLToPath(
  new URL('../children/server-http-child.js', import.meta.url),
)
const GATEWAY_CHILD = fileURLToPath(new URL('../children/gateway-child.js', import.meta.url))
const CONNECTIONS = 32
const WARM_UP = 2000
// Under valgrind: fewer connections, so that no request waits past autocannon's timeout, and a
// shorter warm-up (the counted child's V8 flags tier functions up eight times sooner).
const VALGRIND_CONNECTIONS = 4
const VALGRIND_WARM_UP = 600
// Proofs are signed this many at a time under valgrind, just before they are sent: at its
// speed a larger pool would outlive the proofs' 60 s lifetime.
const VALGRIND_BATCH = 100

interface RouteSpec {
  readonly child: string
  readonly kind: string
  readonly path: string
  readonly upstream: boolean
}

const ROUTES: Record<string, RouteSpec> = {
  'express-keybound': {
    child: SERVER_HTTP_CHILD,
    kind: 'express',
    path: '/keybound',
    upstream: false,
  },
  'express-signature': {
    child: SERVER_HTTP_CHILD,
    kind: 'express',
    path: '/signature-only',
    upstream: false,
  },
  gateway: { child: GATEWAY_CHILD, kind: 'gateway', path: '/items', upstream: true },
  'bare-proxy': { child: GATEWAY_CHILD, kind: 'bare-proxy', path: '/items', upstream: true },
}

interface Started {
  readonly child: ChildProcess
  readonly port: number
}

type Mode = 'plain' | 'profiled' | { callgrindOut: string }

async function startChild(file: string, args: string[], mode: Mode): Promise<Started> {
  const port = await freePort()
  const valgrind =
    typeof mode === 'object'
      ? {
          execPath: process.env.VALGRIND ?? 'valgrind',
          execArgv: [
            '--tool=callgrind',
            `--dump-before=${MARKER_FUNCTION}`,
            `--callgrind-out-file=${mode.callgrindOut}`,
            process.execPath,
            ...CHILD_NODE_FLAGS,
            '--import',
            HOOK,
          ],
        }
      : { execArgv: mode === 'profiled' ? ['--import', HOOK] : [] }
  const child = fork(file, [args[0]!, String(port), ...args.slice(1)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...valgrind,
  })
  const [message] = (await once(child, 'message')) as [{ type: string; message?: string }]
  if (message.type !== 'ready') throw new Error(`${args[0]} did not start: ${message.message}`)
  return { child, port }
}

function ask<T>(child: ChildProcess, message: object, answer: string): Promise<T> {
  return new Promise((resolve) => {
    const listener = (reply: { type?: string }): void => {
      if (reply?.type !== answer) return
      child.off('message', listener)
      resolve(reply as T)
    }
    child.on('message', listener)
    child.send(message)
  })
}

async function cpuOf(child: ChildProcess): Promise<number> {
  const { usage } = await ask<{ usage: NodeJS.CpuUsage }>(child, { type: 'cpu' }, 'cpu')
  return (usage.user + usage.system) / 1e6
}

async function drive(
  port: number,
  path: string,
  pool: Record<string, string>[],
  connections: number,
): Promise<void> {
  let next = 0
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    timeout: 120,
    amount: pool.length,
    requests: [
      {
        method: 'GET',
        path,
        setupRequest: (request) => {
          request.headers = pool[next++]!
          return request
        },
      },
    ],
  })
  if (result['2xx'] !== pool.length)
    throw new Error(`${result['2xx']} of ${pool.length} requests answered 2xx`)
}

const COMPILER = 'optimizing compiler (V8 TurboFan, on the main thread)'
// Inclusive counts of the functions that stand for one kind of work, from callgrind_annotate.
const INCLUSIVE: readonly [string, RegExp][] = [
  [COMPILER, /:v8::internal::Runtime_CompileOptimized\(/],
  [
    'signature checks (thread pool)',
    /DeriveBitsJob<node::crypto::SignTraits>::DoThreadPoolWork\(\)/,
  ],
  ['garbage collection (main thread)', /:v8::internal::Heap::CollectGarbage\(/],
  ['concurrent marking (V8 thread)', /:v8::internal::ConcurrentMarking::JobTaskMajor::Run\(/],
]

/** Where a counted segment's instructions went, by the inclusive counts of a few functions. */
async function inclusiveCounts(file: string): Promise<Map<string, number>> {
  const annotated = await new Promise<string>((resolve, reject) => {
    execFile(
      'callgrind_annotate',
      ['--inclusive=yes', '--threshold=100', file],
      { maxBuffer: 1 << 28 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    )
  })
  const counts = new Map<string, number>()
  for (const line of annotated.split('\n')) {
    const match = /^\s*([\d,]+) \(/.exec(line)
    if (match === null) continue
    const found = INCLUSIVE.find(([name, pattern]) => !counts.has(name) && pattern.test(line))
    if (found !== undefined) counts.set(found[0], Number(match[1]!.replaceAll(',', '')))
  }
  return counts
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const top = Number(takeOption(args, '--by-function') ?? 0)
  const keep = takeOption(args, '--keep')
  const instructions = args.includes('--instructions')
  if (instructions) args.splice(args.indexOf('--instructions'), 1)
  const [routeName, requestsText] = args
  const route = ROUTES[routeName ?? '']
  if (route === undefined)
    throw new Error(`usage: profile-route.js <${Object.keys(ROUTES).join('|')}> [requests]`)
  const requests = Number(requestsText ?? (instructions ? 500 : 20_000))
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')
  const issuer = await startIssuer()
  const children: ChildProcess[] = []
  try {
    const clients: BoundClient[] = await boundClients(issuer, 16)
    const upstream = route.upstream
      ? await startChild(
          GATEWAY_CHILD,
          ['upstream', issuer.issuer, issuer.jwksUri, AUDIENCE],
          'plain',
        )
      : undefined
    if (upstream) children.push(upstream.child)
    const directory = keep ?? (await mkdtemp(join(tmpdir(), 'profile-route-')))
    const callgrindOut = join(directory, `${routeName}.callgrind`)
    const server = await startChild(
      route.child,
      [
        route.kind,
        issuer.issuer,
        issuer.jwksUri,
        AUDIENCE,
        ...(upstream ? [String(upstream.port)] : []),
      ],
      instructions ? { callgrindOut } : 'profiled',
    )
    children.push(server.child)
    const htu = `http://127.0.0.1:${server.port}${route.path}`
    const connections = instructions ? VALGRIND_CONNECTIONS : CONNECTIONS
    const warmUp = instructions ? VALGRIND_WARM_UP : WARM_UP
    const batch = instructions ? VALGRIND_BATCH : Math.max(warmUp, requests)
    const driveFresh = async (count: number): Promise<void> => {
      for (let done = 0; done < count; done += batch) {
        const pool = await dpopRequestPool(htu, clients, Math.min(batch, count - done))
        await drive(server.port, route.path, pool, connections)
      }
    }
    await driveFresh(warmUp)
    if (instructions) {
      await ask(server.child, { type: 'mark' }, 'marked')
      await driveFresh(requests)
      await ask(server.child, { type: 'mark' }, 'marked')
      // Dump 1 is start-up and warm-up, dump 2 the counted requests.
      const dump = await readFile(`${callgrindOut}.2`, 'utf8')
      const total = /^(?:totals|summary):\s+(\d+)/m.exec(dump)
      if (total === null) throw new Error('no totals in the callgrind dump')
      const parts = await inclusiveCounts(`${callgrindOut}.2`)
      const perRequest = (count: number): string => `${(count / requests / 1000).toFixed(1)}k`
      const all = Number(total[1])
      console.log(
        `${routeName}: ${perRequest(all)} instructions per request (${requests} requests after ${warmUp} warm-up, all threads of the server process; signed ${batch} at a time, each batch on new connections)`,
      )
      for (const [name, count] of parts) console.log(`  of which ${name}: ${perRequest(count)}`)
      const jit = parts.get(COMPILER) ?? 0
      console.log(`  without the optimizing compiler: ${perRequest(all - jit)} per request`)
      return
    }
    const pool = await dpopRequestPool(htu, clients, requests)
    const upstreamBefore = upstream ? await cpuOf(upstream.child) : 0
    await ask(server.child, { type: 'profile-start' }, 'profile-started')
    await drive(server.port, route.path, pool, connections)
    const path = join(directory, `${routeName}.cpuprofile`)
    const { threads } = await ask<{ threads: ThreadTimes }>(
      server.child,
      { type: 'profile-stop', path },
      'profile-written',
    )
    const upstreamCpu = upstream ? (await cpuOf(upstream.child)) - upstreamBefore : 0
    const totals = totalsOf(JSON.parse(await readFile(path, 'utf8')) as CpuProfile)
    // Sampled µs → main-thread CPU µs.
    const scale = (threads.main * 1e6) / totals.busy
    const rows = categoryRows(totals.categories).map(([name, micros]): [string, number] => [
      name,
      micros * scale,
    ])
    rows.push(['thread pool (offloaded signature checks)', threads.pool * 1e6])
    rows.push(["V8's threads (concurrent GC, compilers)", threads.other * 1e6])
    const all = (threads.main + threads.pool + threads.other) * 1e6
    console.log(
      `${routeName}: ${requests} requests, ${connections} connections, load average before ${load}`,
    )
    console.log(
      `server process CPU ${(all / requests).toFixed(1)} µs/req (main thread ${((threads.main * 1e6) / requests).toFixed(1)}, sampled busy ${(totals.busy / requests).toFixed(1)} wall µs/req, scale ${scale.toFixed(2)})`,
    )
    if (upstream)
      console.log(`upstream process CPU ${((upstreamCpu * 1e6) / requests).toFixed(1)} µs/req`)
    console.log(formatRows('by category (CPU):', rows, all, requests))
    if (top > 0) {
      const rows = functionRows(totals.functions, top, scale)
      console.log(formatRows(`Keybound functions, top ${top} by self time:`, rows, all, requests))
    }
    console.log(`profile: ${path}`)
  } finally {
    await Promise.all(children.map((child) => stopChild(child)))
    issuer.server.closeAllConnections()
    issuer.server.close()
  }
}

await main()
