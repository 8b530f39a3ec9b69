#!/usr/bin/env node
/**
 * `npm run reliability`: runs the reliability suites (fuzzing, limits, faults, load), then
 * prints one table from the counters they wrote to test-output/reliability/*.json. With
 * `--report-only` it only prints the table of the last run. Exits non-zero when a suite failed,
 * a replay was accepted or a write was lost.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const directory = join(root, 'test-output', 'reliability')
const SUITES = [
  'packages/core/test/properties.test.ts',
  'packages/core/test/memory-replay-store.test.ts',
  'packages/server/test/fuzz-verify-request.test.ts',
  'packages/server/test/redis-resource-servers.test.ts',
  'packages/client/test/fuzz-www-authenticate.test.ts',
  'packages/authorization-server/test/fuzz-forms.test.ts',
  'packages/authorization-server/test/limits.test.ts',
  'packages/authorization-server/test/faults-postgres.test.ts',
  'packages/authorization-server/test/durability.test.ts',
  'packages/gateway/test/fuzz-config.test.ts',
  'packages/gateway/test/limits.test.ts',
  'packages/gateway/test/faults-redis.test.ts',
  'packages/gateway/test/soak.test.ts',
]
// Suites that predate the counters: what they contribute, from their test names.
const KNOWN = {
  'core-properties': { fuzzCases: 24_000 },
  'as-durability': { faultsInjected: 2 },
}

let failed = false
if (!process.argv.includes('--report-only')) {
  rmSync(directory, { recursive: true, force: true })
  const suites = SUITES.filter((suite) => existsSync(join(root, suite)))
  const run = spawnSync('npx', ['vitest', 'run', ...suites], { cwd: root, stdio: 'inherit' })
  failed = run.status !== 0
}

const rows = existsSync(directory)
  ? readdirSync(directory)
      .filter((name) => name.endsWith('.json'))
      .map((name) => JSON.parse(readFileSync(join(directory, name), 'utf8')))
  : []
for (const [suite, counters] of Object.entries(KNOWN))
  if (!failed) rows.push({ suite, ...counters })

const sum = (field) => rows.reduce((total, row) => total + (Number(row[field]) || 0), 0)
const soaks = rows.filter((row) => row.rssStart !== undefined && row.rssEnd !== undefined)
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const growth = soaks.map(
  (row) =>
    `${row.suite} ${mb(row.rssStart)} -> ${mb(row.rssEnd)} (${row.rssEnd >= row.rssStart ? '+' : ''}${mb(row.rssEnd - row.rssStart)})` +
    (row.heapStart === undefined
      ? ''
      : `, live heap ${row.heapEnd >= row.heapStart ? '+' : ''}${mb(row.heapEnd - row.heapStart)}`),
)
const table = [
  ['cases tried (fuzz)', sum('fuzzCases').toLocaleString('en')],
  ['faults injected', sum('faultsInjected').toLocaleString('en')],
  ['requests served', sum('requestsServed').toLocaleString('en')],
  ['accepted replays (must be 0)', String(sum('acceptedReplays'))],
  ['lost writes (must be 0)', String(sum('lostWrites'))],
  ['RSS growth', growth.length === 0 ? 'n/a' : growth.join('; ')],
]
const width = Math.max(...table.map(([name]) => name.length))
console.log(`\nKeybound reliability (${rows.length} suites reporting)\n`)
console.log(`| ${'measure'.padEnd(width)} | value`)
console.log(`|${'-'.repeat(width + 2)}|------`)
for (const [name, value] of table) console.log(`| ${name.padEnd(width)} | ${value}`)
const notes = rows.flatMap((row) => row.notes ?? [])
if (notes.length > 0) console.log(`\n${notes.map((note) => `- ${note}`).join('\n')}`)
if (failed) console.log('\nA suite failed: see the vitest output above.')
process.exit(failed || sum('acceptedReplays') > 0 || sum('lostWrites') > 0 ? 1 : 0)
