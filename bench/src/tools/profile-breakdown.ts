/**
 * Where a server process's main-thread CPU time goes, from a V8 `.cpuprofile` (`--cpu-prof`):
 *
 *   node bench/dist/tools/profile-breakdown.js <file.cpuprofile> [requests] [--by-function N]
 *
 * Each sample is charged to a category by its innermost frame (Keybound's packages by function
 * group: adapter, header parsing, token cache, claims, replay record, challenge and outcome,
 * core's proof checks, the pipeline; then node:crypto, the frameworks, undici, Node's HTTP and
 * stream code, GC, `(program)`); idle samples are left out. With a request count, the totals
 * are also given in µs per request; `--by-function N` lists Keybound's N costliest functions by
 * self time. Thread-pool work (signature checks with `offloadSignature`) is not in the profile:
 * `tools/profile-route.ts` drives one route alone and reports it beside the profile.
 */
import { readFile } from 'node:fs/promises'
import * as analysis from '../lib/profile-analysis.js'

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const top = Number(analysis.takeOption(args, '--by-function') ?? 0)
  const [path, requestsText] = args
  if (path === undefined)
    throw new Error('usage: profile-breakdown.js <file.cpuprofile> [requests] [--by-function N]')
  const requests = Number(requestsText ?? 0)
  const profile = JSON.parse(await readFile(path, 'utf8')) as analysis.CpuProfile
  const totals = analysis.totalsOf(profile)
  console.log(
    `${(totals.busy / 1e6).toFixed(2)} s busy on the main thread (${(totals.idle / 1e6).toFixed(2)} s idle)${requests > 0 ? `, ${requests} requests` : ''}`,
  )
  console.log(
    analysis.formatRows(
      'by category:',
      analysis.categoryRows(totals.categories),
      totals.busy,
      requests,
    ),
  )
  if (top > 0) {
    const rows = analysis.functionRows(totals.functions, top)
    console.log(
      analysis.formatRows(
        `Keybound functions, top ${top} by self time:`,
        rows,
        totals.busy,
        requests,
      ),
    )
  }
}

await main()
