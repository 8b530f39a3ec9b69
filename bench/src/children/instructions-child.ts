/**
 * The process that `--instructions` runs under callgrind (see lib/instructions.ts):
 *
 *   valgrind --tool=callgrind --dump-before=uv_os_getpriority node --expose-gc \
 *     bench/dist/children/instructions-child.js <suite> <material.json> <ops>
 *
 * For every contender of every case: a warm-up, then SEGMENTS segments of N operations, each
 * closed by a marker call that makes callgrind write its count. Prints, as JSON on stdout, what
 * each segment held, in marker order, so that the parent can pair segments with dumps.
 */
import { readFile } from 'node:fs/promises'
import { getPriority } from 'node:os'
import { SEGMENTS, type SegmentLabel } from '../lib/instructions.js'
import { obtainGc, runCount, type Contender } from '../lib/measure.js'
import { suites } from '../suites/index.js'

const collect = obtainGc()
const labels: SegmentLabel[] = []

// The marker: callgrind dumps (and resets) its counters on entry to uv_os_getpriority.
function closeSegment(label: SegmentLabel): void {
  getPriority()
  labels.push(label)
}

async function countContender(kase: string, contender: Contender, ops: number, warmupOps: number) {
  const label = (count: number): SegmentLabel => ({
    case: kase,
    contender: contender.name,
    ops: count,
  })
  await runCount(contender.op, warmupOps)
  collect?.()
  closeSegment(label(0))
  for (let segment = 0; segment < SEGMENTS; segment++) {
    await runCount(contender.op, ops)
    closeSegment(label(ops))
  }
}

async function main(): Promise<void> {
  const [suiteName, materialPath, opsText] = process.argv.slice(2)
  const workload = suites.find((suite) => suite.name === suiteName)?.instructions
  if (workload === undefined || materialPath === undefined)
    throw new Error(`no instruction workload for suite ${suiteName}`)
  const ops = Number(opsText)
  if (!Number.isSafeInteger(ops) || ops < 1) throw new Error(`bad operation count ${opsText}`)
  const cases = await workload.cases(JSON.parse(await readFile(materialPath, 'utf8')))
  for (const kase of cases) {
    for (const contender of kase.contenders)
      await countContender(kase.name, contender, ops, kase.warmupOps)
  }
  const summary = cases.map(({ name, baseline, warmupOps }) => ({ name, baseline, warmupOps }))
  process.stdout.write(`${JSON.stringify({ labels, cases: summary })}\n`)
}

await main()
