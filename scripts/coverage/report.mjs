// Merges vitest's in-process coverage with the raw V8 coverage of the child processes the tests
// spawn (and of the page scripts they run in Chromium), prints lines covered per workspace against its floor, and exits 1 when one is missed.
// Children run dist/*.js; tsc's source maps take their counts back to src/*.ts, the same files
// vitest reports, so a line counts as covered when either side ran it. See docs/adr/0051-coverage.md.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8Coverage from '@bcoe/v8-coverage'
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

/**
 * A measured source file: under a workspace's src/, TypeScript, not a declaration, and still
 * there: a dist/ file left from before a source moved maps to a path that no longer exists,
 * which would count as an uncovered file in a working copy (never in a fresh clone).
 */
function isMeasuredSource(file) {
  const path = relative(root, file).split(sep).join('/')
  return (
    /^(packages|apps)\/[^/]+\/src\/.+\.ts$/.test(path) &&
    !path.endsWith('.d.ts') &&
    existsSync(file)
  )
}

/** A built module a child process ran, whose source map leads back to src/. */
function isBuiltModule(url) {
  if (!url.startsWith('file://')) return false
  const path = relative(root, fileURLToPath(url)).split(sep).join('/')
  return /^(packages|apps)\/[^/]+\/dist\/.+\.js$/.test(path)
}

/**
 * A page script Chromium ran (test-kit/src/page-coverage.ts): a bundle served from memory, so
 * the dump carries its text, whose inline source map leads from the file it was built as (a
 * workspace's src/, never written) back to the TypeScript.
 */
function isPageBundle(script) {
  if (typeof script.source !== 'string' || !script.url.startsWith('file://')) return false
  const path = relative(root, fileURLToPath(script.url)).split(sep).join('/')
  return /^(packages|apps)\/[^/]+\/src\/.+\.js$/.test(path)
}

/** Adds one script's istanbul coverage of measured src files to the map. */
async function addConverted(converter, functions, map) {
  await converter.load()
  converter.applyCoverage(functions)
  for (const [source, data] of Object.entries(converter.toIstanbul())) {
    if (isMeasuredSource(source)) map.merge({ [source]: data })
  }
}

/**
 * Converts the V8 dumps: each Node child's scripts one by one, and the page bundles merged per
 * bundle first. A page's counts are taken several times (after each test), each take holding
 * only what ran since the last one; v8-to-istanbul counts a line outside every listed range as
 * run, so a take on its own would mark the whole bundle covered. Merged as V8 ranges (as c8
 * merges processes), the first take's zero-count ranges stay zero until a later take runs them.
 */
async function convertDumps(files, map) {
  const pages = new Map()
  for (const file of files) {
    const dump = JSON.parse(readFileSync(file, 'utf8'))
    for (const script of dump.result ?? []) {
      if (isPageBundle(script)) {
        const takes = pages.get(script.url) ?? { source: script.source, covs: [] }
        takes.covs.push({
          result: [{ scriptId: '0', url: script.url, functions: script.functions }],
        })
        pages.set(script.url, takes)
      } else if (isBuiltModule(script.url) && existsSync(fileURLToPath(script.url))) {
        await addConverted(v8ToIstanbul(fileURLToPath(script.url), 0), script.functions, map)
      }
    }
  }
  for (const [url, { source, covs }] of pages) {
    const [merged] = v8Coverage.mergeProcessCovs(covs).result
    await addConverted(v8ToIstanbul(fileURLToPath(url), 0, { source }), merged.functions, map)
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
  const inProcess = JSON.parse(readFileSync(vitestReport, 'utf8'))
  const map = libCoverage.createCoverageMap(
    Object.fromEntries(Object.entries(inProcess).filter(([file]) => isMeasuredSource(file))),
  )
  const dumps = existsSync(childrenDir)
    ? readdirSync(childrenDir).filter((f) => f.endsWith('.json'))
    : []
  await convertDumps(
    dumps.map((dump) => join(childrenDir, dump)),
    map,
  )
  mkdirSync(join(root, 'coverage'), { recursive: true })
  writeFileSync(mergedReport, JSON.stringify(map.toJSON()))
  const missed = printTable(sumLinesPerWorkspace(map))
  if (missed.length > 0) {
    console.error(`coverage: below floor: ${missed.join(', ')}`)
    process.exit(1)
  }
}

await main()
