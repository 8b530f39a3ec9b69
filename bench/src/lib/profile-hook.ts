/**
 * Preloaded into a benchmark server child (`--import`) by `tools/profile-route.ts`: profiles
 * the child's main thread between two IPC messages, so that start-up and warm-up stay out of
 * the profile, and reports the CPU time of every thread of the process over the same span.
 *
 *   { type: 'profile-start' }              → profiling starts, thread times are read
 *   { type: 'profile-stop', path }          → the profile is written to `path`, and the child
 *                                             answers { type: 'profile-written', threads }
 *   { type: 'mark' }                        → `os.getPriority()`, callgrind's dump marker when
 *                                             the child runs under valgrind (see
 *                                             `lib/instructions.ts`), answered { type: 'marked' }
 *
 * Thread times come from `/proc/self/task/<tid>/stat` (Linux): the main thread (the process
 * id), libuv's pool (signature checks with `offloadSignature`) and V8's own threads (concurrent
 * GC and compilers). Node 20 names them all `node`; the pool's threads are the last ones made
 * (Node starts V8's platform threads first, and libuv its pool at the first queued work), so
 * they are told apart as the `UV_THREADPOOL_SIZE` (default 4) highest thread ids. These are CPU
 * times, unlike the profile's sample times, which also count the time a busy machine keeps the
 * thread waiting for a core.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { getPriority } from 'node:os'

/** CPU seconds per thread group, over the profiled span. */
export interface ThreadTimes {
  readonly main: number
  readonly pool: number
  readonly other: number
}

// utime and stime are fields 14 and 15 of `stat`, counted after the `(comm)` field.
function threadSeconds(): Map<string, { group: keyof ThreadTimes; seconds: number }> {
  const ticks = 100
  const threads = new Map<string, { group: keyof ThreadTimes; seconds: number }>()
  const tids = readdirSync('/proc/self/task').sort((a, b) => Number(a) - Number(b))
  const poolFrom = tids.length - Number(process.env.UV_THREADPOOL_SIZE ?? 4)
  tids.forEach((tid, index) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticks
      const group = tid === String(process.pid) ? 'main' : index >= poolFrom ? 'pool' : 'other'
      threads.set(tid, { group, seconds })
    } catch {
      // A thread that ended between the listing and the read has nothing more to count.
    }
  })
  return threads
}

function difference(
  before: ReturnType<typeof threadSeconds>,
  after: ReturnType<typeof threadSeconds>,
): ThreadTimes {
  const totals = { main: 0, pool: 0, other: 0 }
  for (const [tid, { group, seconds }] of after)
    totals[group] += seconds - (before.get(tid)?.seconds ?? 0)
  return totals
}

const session = new Session()
session.connect()
const post = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  )
let started: ReturnType<typeof threadSeconds> | undefined

process.on('message', (message: { type?: string; path?: string; intervalMicros?: number }) => {
  if (message?.type === 'profile-start') {
    void (async () => {
      await post('Profiler.enable')
      await post('Profiler.setSamplingInterval', { interval: message.intervalMicros ?? 250 })
      started = threadSeconds()
      await post('Profiler.start')
      process.send?.({ type: 'profile-started' })
    })()
  }
  if (message?.type === 'mark') {
    getPriority()
    process.send?.({ type: 'marked' })
  }
  if (message?.type === 'profile-stop' && message.path !== undefined && started !== undefined) {
    const path = message.path
    void (async () => {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown }
      const threads = difference(started!, threadSeconds())
      writeFileSync(path, JSON.stringify(profile))
      process.send?.({ type: 'profile-written', threads })
    })()
  }
})
