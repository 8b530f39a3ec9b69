/**
 * Where a server process's main-thread CPU time goes, from a V8 `.cpuprofile` (`--cpu-prof`):
 *
 *   node bench/dist/tools/profile-breakdown.js <file.cpuprofile> [requests]
 *
 * Each sample is charged to a category by its innermost frame (Keybound's packages, Express
 * and its router, Node's HTTP and stream code, node:crypto, the peer libraries, GC, idle) and to
 * a route by the outermost route-specific frame on its stack (Keybound's middleware, the peer's,
 * the benchmark's signature-only or plain handlers); work no route frame is on (HTTP parsing,
 * writing the response) is "shared". With a request count, the totals are also given in µs per
 * request. Thread-pool work (signature checks with `offloadSignature`) is not in the profile:
 * it is the process's CPU time minus the sampled main-thread time.
 */
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string }
  readonly children?: readonly number[]
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

// Checked in order: the first match names the category of a sample's innermost frame.
const CATEGORIES: readonly [string, (url: string, name: string) => boolean][] = [
  ['keybound (packages/*)', (url) => url.includes('/packages/')],
  [
    'peer (express-oauth2-jwt-bearer, jose)',
    (url) => /express-oauth2-jwt-bearer|\/jose\//.test(url),
  ],
  [
    'express + router',
    (url) =>
      /node_modules\/(express|router|body-parser|finalhandler|send|qs|path-to-regexp|on-finished|content-type|accepts|type-is)/.test(
        url,
      ),
  ],
  ['node:crypto (JS + synchronous native)', (url) => url.startsWith('node:internal/crypto')],
  [
    'node http/net/streams',
    (url) => /^node:(_http|net|internal\/(http|streams|stream_base|net)|stream|events)/.test(url),
  ],
  ['node:buffer', (url) => url === 'node:buffer'],
  ['benchmark handlers', (url) => url.includes('/bench/')],
  ['garbage collector', (_url, name) => name === '(garbage collector)'],
  ['idle / program', (_url, name) => name === '(idle)' || name === '(program)'],
]

const ROUTES: readonly [string, (url: string, name: string) => boolean][] = [
  ['keybound route', (url) => url.includes('/packages/server/')],
  ['peer route', (url) => url.includes('express-oauth2-jwt-bearer')],
  ['signature-only / plain route', (url) => url.includes('server-http-child')],
  ['gateway', (url) => url.includes('/packages/gateway/')],
]

function categoryOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame
  return CATEGORIES.find(([, test]) => test(url, functionName))?.[0] ?? 'other'
}

function add(totals: Map<string, number>, key: string, micros: number): void {
  totals.set(key, (totals.get(key) ?? 0) + micros)
}

function table(title: string, totals: Map<string, number>, all: number, requests: number): string {
  const lines = [...totals]
    .sort((a, b) => b[1] - a[1])
    .map(([name, micros]) => {
      const share = `${((100 * micros) / all).toFixed(1)}%`.padStart(6)
      const perRequest =
        requests > 0 ? `  ${(micros / requests).toFixed(1).padStart(7)} µs/req` : ''
      return `  ${share}${perRequest}  ${name}`
    })
  return [title, ...lines].join('\n')
}

async function main(): Promise<void> {
  const [path, requestsText] = process.argv.slice(2)
  if (path === undefined)
    throw new Error('usage: profile-breakdown.js <file.cpuprofile> [requests]')
  const requests = Number(requestsText ?? 0)
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id)
  const routeOf = (id: number): string => {
    let route = 'shared'
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const { url, functionName } = byId.get(at)!.callFrame
      route = ROUTES.find(([, test]) => test(url, functionName))?.[0] ?? route
    }
    return route
  }
  const categories = new Map<string, number>()
  const routes = new Map<string, Map<string, number>>()
  let all = 0
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0
    const category = categoryOf(byId.get(id)!)
    const route = routeOf(id)
    all += micros
    add(categories, category, micros)
    if (!routes.has(route)) routes.set(route, new Map())
    add(routes.get(route)!, category, micros)
  })
  console.log(
    `${(all / 1e6).toFixed(2)} s sampled on the main thread${requests > 0 ? `, ${requests} requests` : ''}`,
  )
  console.log(table('by category:', categories, all, requests))
  for (const [route, totals] of routes) console.log(table(`${route}:`, totals, all, requests))
}

await main()
