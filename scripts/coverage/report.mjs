// Merges vitest's in-process coverage with the raw V8 coverage of the child processes the tests
// spawn, prints lines covered per workspace against its floor, and exits 1 when one is missed.
// Children run dist/*.js; tsc's source maps take their counts back to src/*.ts, the same files
// vitest reports, so a line counts as covered when either side ran it. See docs/adr/0051-coverage.md.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import libCoverage from 'istanbul-lib-coverage'
import v8ToIstanbul from 'v8-to-istanbul'

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const vitestReport = join(root, 'coverage/vitest/coverage-final.json')
const childrenDir = join(root, 'coverage/v8-children')
const mergedReport = join(root, 'coverage/coverage-final.json')

/** Workspaces measured and the share of their src lines the tests must run (issue 20). */
const floors = [
  ['packages/core', 95],
  ['packages/server', 95],
  ['packages/client', 85],
  ['packages/authorization-server', 85],
  ['packages/gateway', 85],
  ['packages/cli', 85],
  ['packages/pkcs11', 85],
  ['packages/config-kit', 85],
  ['apps/demo', 85],
  ['apps/mcp', 85],
]

/** A measured source file: under a workspace's src/, TypeScript, not a declaration. */
function isMeasuredSource(file) {
  const path = relative(root, file).split(sep).join('/')
  return /^(packages|apps)\/[^/]+\/src\/.+\.ts$/.test(path) && !path.endsWith('.d.ts')
}

/** A built module a child process ran, whose source map leads back to src/. */
function isBuiltModule(url) {
  if (!url.startsWith('file://')) return false
  const path = relative(root, fileURLToPath(url)).split(sep).join('/')
  return /^(packages|apps)\/[^/]+\/dist\/.+\.js$/.test(path)
}

/** Converts one child process's V8 dump into istanbul coverage of the src files it ran. */
async function convertChildDump(file, map) {
  const dump = JSON.parse(readFileSync(file, 'utf8'))
  for (const script of dump.result ?? []) {
    if (!isBuiltModule(script.url)) continue
    const path = fileURLToPath(script.url)
    if (!existsSync(path)) continue
    const converter = v8ToIstanbul(path, 0)
    await converter.load()
    converter.applyCoverage(script.functions)
    const converted = converter.toIstanbul()
    for (const [source, data] of Object.entries(converted)) {
      if (isMeasuredSource(source)) map.merge({ [source]: data })
    }
  }
}

/** Lines covered and total per workspace, from the merged map. */
function sumLinesPerWorkspace(map) {
  const totals = new Map(floors.map(([dir]) => [dir, { covered: 0, total: 0 }]))
  for (const file of map.files()) {
    const path = relative(root, file).split(sep).join('/')
    const dir = floors.find(([d]) => path.startsWith(`${d}/src/`))?.[0]
    if (dir === undefined) continue
    const lines = map.fileCoverageFor(file).toSummary().lines
    const sum = totals.get(dir)
    sum.covered += lines.covered
    sum.total += lines.total
  }
  return totals
}

/** Prints the table and returns the workspaces below their floor. */
function printTable(totals) {
  const missed = []
  console.log('\nCoverage (lines of src/, in-process and child processes)')
  console.log(`${'workspace'.padEnd(32)}${'lines'.padStart(9)}${'floor'.padStart(8)}`)
  for (const [dir, floor] of floors) {
    const { covered, total } = totals.get(dir)
    const pct = total === 0 ? 0 : (100 * covered) / total
    const ok = pct >= floor
    if (!ok) missed.push(dir)
    const cells = `${dir.padEnd(32)}${`${pct.toFixed(2)}%`.padStart(9)}${`${floor}%`.padStart(8)}`
    console.log(`${cells}  ${ok ? 'ok' : 'BELOW FLOOR'}`)
  }
  console.log(`per-file report: ${relative(process.cwd(), mergedReport)}`)
  return missed
}

async function main() {
  if (!existsSync(vitestReport)) {
    console.error(`coverage: ${vitestReport} is missing; run \`vitest run --coverage\` first`)
    process.exit(1)
  }
  const map = libCoverage.createCoverageMap(JSON.parse(readFileSync(vitestReport, 'utf8')))
  const dumps = existsSync(childrenDir)
    ? readdirSync(childrenDir).filter((f) => f.endsWith('.json'))
    : []
  for (const dump of dumps) await convertChildDump(join(childrenDir, dump), map)
  mkdirSync(join(root, 'coverage'), { recursive: true })
  writeFileSync(mergedReport, JSON.stringify(map.toJSON()))
  const missed = printTable(sumLinesPerWorkspace(map))
  if (missed.length > 0) {
    console.error(`coverage: below floor: ${missed.join(', ')}`)
    process.exit(1)
  }
}

await main()
