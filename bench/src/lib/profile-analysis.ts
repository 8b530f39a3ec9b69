/**
 * Where a server process's main-thread time goes, from a V8 CPU profile: each sample is charged
 * to a category by its innermost frame, Keybound's own frames to a function group (header
 * parsing, token cache, claims, replay record, …), and Keybound's functions can be listed one
 * by one. Used by `tools/profile-breakdown.ts` (a `.cpuprofile` file) and
 * `tools/profile-route.ts` (one route driven alone, with thread CPU times beside it).
 */

/** One node of a V8 `.cpuprofile`. */
export interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber?: number
  }
  readonly children?: readonly number[]
}

/** A V8 CPU profile (`--cpu-prof` or the inspector's `Profiler.stop`). */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

type Test = (url: string, name: string) => boolean

const IDLE = 'idle'
const PROFILER = 'the profiler itself'

// Keybound's frames, by where the function lives (compiled `dist` files) and, inside the
// pipeline module, by name. The first match wins.
const KEYBOUND_GROUPS: readonly [string, Test][] = [
  ['keybound: framework adapter', (url) => /\/packages\/server\/dist\/adapters\//.test(url)],
  [
    'keybound: header parsing (credentials, DPoP header, htu)',
    (url) =>
      /\/packages\/server\/dist\/(lib\/headers|lib\/header-list|credentials|expected-url)\.js|\/packages\/core\/dist\/htu\.js/.test(
        url,
      ),
  ],
  [
    'keybound: token cache + access token',
    (url) =>
      /\/packages\/server\/dist\/(lib\/token-cache|access-tokens\/(jwt|profiles))\.js/.test(url),
  ],
  [
    'keybound: claims and scopes',
    (url, name) =>
      /\/packages\/server\/dist\/(access-tokens\/claims|route-options)\.js|\/packages\/core\/dist\/claims\.js/.test(
        url,
      ) ||
      (url.endsWith('/packages/server/dist/resource-server.js') &&
        /^(holdsScopes|refuseScopes|hasClaimChecks|refuseClaims|passesClaimChecks|claimIncludes)$/.test(
          name,
        )),
  ],
  ['keybound: replay record', (url) => /\/packages\/core\/dist\/replay\//.test(url)],
  [
    'keybound: challenge and outcome',
    (url, name) =>
      url.endsWith('/packages/server/dist/challenges.js') ||
      (url.endsWith('/packages/server/dist/resource-server.js') &&
        /^(outcomeOf|emit|identityOf|contextOf)$/.test(name)),
  ],
  ['keybound: proof checks (core JS)', (url) => url.includes('/packages/core/dist/')],
  ['keybound: request pipeline', (url) => url.includes('/packages/server/dist/')],
  ['keybound: gateway', (url) => url.includes('/packages/gateway/dist/')],
  ['keybound: other', (url) => url.includes('/packages/')],
]

// Everything else, checked in order after Keybound's groups.
const CATEGORIES: readonly [string, Test][] = [
  ...KEYBOUND_GROUPS,
  ['crypto (node:crypto, main thread)', (url) => url.startsWith('node:internal/crypto')],
  [
    'peer (express-oauth2-jwt-bearer, jose)',
    (url) => /express-oauth2-jwt-bearer|\/jose\//.test(url),
  ],
  [
    'framework: express + router',
    (url) =>
      /node_modules\/(express|router|body-parser|finalhandler|send|qs|path-to-regexp|on-finished|content-type|accepts|type-is|depd|parseurl|encodeurl|escape-html|vary|mime|negotiator|statuses|cookie|etag|fresh|range-parser|proxy-addr|forwarded|merge-descriptors|setprototypeof|http-errors)\//.test(
        url,
      ),
  ],
  [
    'framework: fastify',
    (url) =>
      /node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|fast-querystring|fastq|abstract-logging|safe-regex2|toad-cache|rfdc|process-warning|secure-json-parse|json-schema-ref-resolver)\//.test(
        url,
      ),
  ],
  ['logging (pino)', (url) => /node_modules\/(pino|pino-std-serializers|sonic-boom)/.test(url)],
  ['metrics (prom-client)', (url) => /node_modules\/prom-client/.test(url)],
  [
    'upstream client (undici)',
    (url) => /node_modules\/undici\/|node:internal\/deps\/undici/.test(url),
  ],
  [
    'node http/net/streams/timers',
    (url) =>
      /^node:(_http|net|internal\/(http|streams|stream_base|net|timers|async_hooks|process\/task_queues)|stream|events|timers)/.test(
        url,
      ),
  ],
  ['node:buffer', (url) => url === 'node:buffer'],
  ['benchmark handlers', (url) => url.includes('/bench/')],
  ['garbage collector (main thread)', (_url, name) => name === '(garbage collector)'],
  ['native outside JS ((program))', (_url, name) => name === '(program)'],
  [IDLE, (_url, name) => name === '(idle)'],
]

// Native functions have no URL: their time is charged to the JavaScript that called them
// (`writev` to Node's stream code, the signature job's `run` to node:crypto).
const isNative = (url: string, name: string): boolean => url === '' && !name.startsWith('(')

/** The category of a frame: the first test it passes, else `other`. */
export function categoryOf(url: string, name: string): string {
  return CATEGORIES.find(([, test]) => test(url, name))?.[0] ?? 'other'
}

/** Whether a category is one of Keybound's function groups. */
export const isKeyboundCategory = (category: string): boolean => category.startsWith('keybound')

/** Self time of one function, as the by-function list shows it. */
export interface FunctionTime {
  readonly name: string
  readonly where: string
  readonly micros: number
}

/** Sampled main-thread time, in µs, by category, and by function for Keybound's frames. */
export interface ProfileTotals {
  readonly categories: Map<string, number>
  readonly functions: FunctionTime[]
  /** Every sample but `(idle)`. */
  readonly busy: number
  readonly idle: number
}

/** Sums a profile's samples by the category (and, for Keybound, the function) of their frame. */
export function totalsOf(profile: CpuProfile): ProfileTotals {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id)
  const underProfiler = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at))
      if (byId.get(at)!.callFrame.url.endsWith('/profile-hook.js')) return true
    return false
  }
  const categoryOfSample = (id: number): string => {
    if (underProfiler(id)) return PROFILER
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const { url, functionName } = byId.get(at)!.callFrame
      if (!isNative(url, functionName)) return categoryOf(url, functionName)
    }
    return 'other'
  }
  const categories = new Map<string, number>()
  const functions = new Map<string, FunctionTime>()
  let busy = 0
  let idle = 0
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0
    const { url, functionName, lineNumber } = byId.get(id)!.callFrame
    const category = categoryOfSample(id)
    if (category === PROFILER) return
    if (category === IDLE) {
      idle += micros
      return
    }
    busy += micros
    categories.set(category, (categories.get(category) ?? 0) + micros)
    if (!url.includes('/packages/')) return
    const where = `${url.replace(/^.*\/packages\//, '')}:${(lineNumber ?? 0) + 1}`
    const key = `${functionName}@${where}`
    const known = functions.get(key)
    functions.set(key, {
      name: functionName || '(anonymous)',
      where,
      micros: (known?.micros ?? 0) + micros,
    })
  })
  return {
    categories,
    functions: [...functions.values()].sort((a, b) => b.micros - a.micros),
    busy,
    idle,
  }
}

/** Rows of `[label, µs]` as a table: share of `all`, and µs per request when `requests` > 0. */
export function formatRows(
  title: string,
  rows: readonly (readonly [string, number])[],
  all: number,
  requests: number,
): string {
  const lines = rows.map(([name, micros]) => {
    const share = `${((100 * micros) / all).toFixed(1)}%`.padStart(6)
    const perRequest = requests > 0 ? `  ${(micros / requests).toFixed(1).padStart(7)} µs/req` : ''
    return `  ${share}${perRequest}  ${name}`
  })
  return [title, ...lines].join('\n')
}

/** Categories, largest first, with Keybound's groups summed into one line above them. */
export function categoryRows(categories: Map<string, number>): [string, number][] {
  const sorted = [...categories].sort((a, b) => b[1] - a[1])
  const keybound = sorted.filter(([name]) => isKeyboundCategory(name))
  const total = keybound.reduce((sum, [, micros]) => sum + micros, 0)
  return [
    ['KEYBOUND JS (sum of the groups below)', total],
    ...keybound.map(([name, micros]): [string, number] => [`  ${name}`, micros]),
    ...sorted.filter(([name]) => !isKeyboundCategory(name)),
  ]
}

/** Keybound's `top` costliest functions by self time, as rows of `[label, µs × scale]`. */
export function functionRows(
  functions: readonly FunctionTime[],
  top: number,
  scale = 1,
): [string, number][] {
  return functions
    .slice(0, top)
    .map(({ name, where, micros }): [string, number] => [`${name}  (${where})`, micros * scale])
}

/** Removes `name value` from command-line `args`; the value, or `undefined` when absent. */
export function takeOption(args: string[], name: string): string | undefined {
  const at = args.indexOf(name)
  if (at === -1) return undefined
  const [, value] = args.splice(at, 2)
  return value
}
