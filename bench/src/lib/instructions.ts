/**
 * Instruction counts (`--instructions`): the core suites' contenders run again, each for a fixed
 * number of operations, in a Node process under `valgrind --tool=callgrind`, which counts every
 * instruction the process executes (all threads). Unlike a rate, the count does not depend on
 * what else the machine is doing, so the ratio can be compared across runs and machines.
 *
 * Start-up and warm-up are cut off with a marker: the child calls `os.getPriority()` (libuv's
 * `uv_os_getpriority`, which nothing else in the benchmark calls) between segments, and callgrind
 * (`--dump-before=uv_os_getpriority`) writes the counts gathered since the previous marker and
 * starts again from zero. Each contender is warmed up, then runs `SEGMENTS` segments of N
 * operations; instructions per operation are the median segment's count over N. A segment's
 * own cost besides its operations (the marker call, entering the loop) is a few thousand
 * instructions against N times hundreds of thousands. The median, not the mean, because one
 * late optimizing compilation (tens of millions of instructions) in one segment would otherwise
 * move the result by a tenth; the spread of the segments is reported beside it.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, type Contender } from './measure.js'

/** A case as the instruction child runs it; `name` matches the wall-clock case it belongs to. */
export interface InstructionCase {
  readonly name: string
  readonly baseline: string
  readonly contenders: readonly Contender[]
  /** Operations per contender before counting starts (JIT tiers, per-key caches). */
  readonly warmupOps: number
}

/** How a suite takes part in `--instructions`. */
export interface InstructionWorkload {
  /**
   * Runs in the benchmark process, outside valgrind: builds whatever is slow to make (keys,
   * signed proof pools) for `ops` counted operations per segment, as JSON-serialisable data.
   */
  prepare(ops: number, quick: boolean): Promise<unknown>
  /** Runs in the child under valgrind: the cases, built from what `prepare` returned. */
  cases(material: unknown): Promise<InstructionCase[]>
}

/** Instructions per operation of one contender. */
export interface InstructionRow {
  readonly name: string
  /** Median segment's instructions over its operations. */
  readonly perOp: number
  /** Lowest and highest segment, per operation. */
  readonly range: readonly [number, number]
}

/** One case's counts, and how they were taken. */
export interface InstructionResult {
  readonly name: string
  readonly baseline: string
  /** Operations in each counted segment. */
  readonly ops: number
  readonly warmupOps: number
  readonly rows: readonly InstructionRow[]
}

/** One marker segment as the child announces it: which contender, and how many operations. */
export interface SegmentLabel {
  readonly case: string
  readonly contender: string
  /** Operations counted in the segment; 0 for warm-up and collection segments. */
  readonly ops: number
}

export const MARKER_FUNCTION = 'uv_os_getpriority'
/**
 * Operations per contender before counting. With the child's lowered interrupt budget (see
 * `CHILD_NODE_FLAGS`) the functions on the hot path reach the optimizing tier well within them.
 */
export const INSTRUCTION_WARMUP_OPS = 600
/**
 * V8 flags of the counted child. Left alone, V8 optimizes the last of verifyProof's functions
 * after some 4,500 verifications (traced with --trace-opt), and compiles on a background
 * thread, which under valgrind finishes late: a 400-verification PS256 segment after 1,000
 * warm-up calls still held 26 million instructions of TurboFan work, two thirds of Keybound's
 * apparent gap. A budget an eighth of the default (132 KiB) tiers up eight times sooner, and
 * compiling on the main thread puts every compilation inside the warm-up that caused it.
 */
export const CHILD_NODE_FLAGS = ['--interrupt-budget=16384', '--no-concurrent-recompilation']
export const DEFAULT_INSTRUCTION_OPS = 40
export const QUICK_INSTRUCTION_OPS = 10
/** Counted segments per contender. */
export const SEGMENTS = 5
const CHILD = fileURLToPath(new URL('../children/instructions-child.js', import.meta.url))
const VALGRIND = process.env.VALGRIND ?? 'valgrind'

// callgrind writes one file per dump: `<base>.<n>` for the n-th marker, `<base>` at exit.
async function readDumpTotals(directory: string): Promise<Map<number, number>> {
  const totals = new Map<number, number>()
  for (const file of await readdir(directory)) {
    const match = /^cg\.\d+\.(\d+)$/.exec(file)
    if (match === null) continue
    const text = await readFile(join(directory, file), 'utf8')
    const total = /^totals:\s+(\d+)/m.exec(text) ?? /^summary:\s+(\d+)/m.exec(text)
    if (total === null) throw new Error(`no totals in callgrind dump ${file}`)
    totals.set(Number(match[1]), Number(total[1]))
  }
  return totals
}

function runChild(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(VALGRIND, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', (error) =>
      reject(new Error(`cannot start ${VALGRIND} (is valgrind installed?): ${error.message}`)),
    )
    child.on('close', (code) => {
      if (code === 0) resolve(stdout)
      else reject(new Error(`instruction child exited with ${code}:\n${stderr.slice(-2000)}`))
    })
  })
}

/** Pairs the child's segment labels with callgrind's dumps and derives instructions per op. */
export function instructionResults(
  labels: readonly SegmentLabel[],
  totals: ReadonlyMap<number, number>,
  cases: readonly { name: string; baseline: string; warmupOps: number }[],
): InstructionResult[] {
  return cases.map((kase) => {
    const counted = labels
      .map((label, index) => ({ label, total: totals.get(index + 1) }))
      .filter(({ label }) => label.case === kase.name && label.ops > 0)
    const names = [...new Set(counted.map(({ label }) => label.contender))]
    const rows = names.map((name) => {
      const perOp = counted
        .filter(({ label }) => label.contender === name)
        .map(({ label, total }) => {
          if (total === undefined)
            throw new Error(`missing callgrind dump for ${kase.name} / ${name}`)
          return total / label.ops
        })
      return {
        name,
        perOp: median(perOp),
        range: [Math.min(...perOp), Math.max(...perOp)] as const,
      }
    })
    const ops = counted[0]?.label.ops ?? 0
    return { name: kase.name, baseline: kase.baseline, ops, warmupOps: kase.warmupOps, rows }
  })
}

/**
 * Counts instructions per operation for a suite's workload in a child under callgrind.
 * Slow by nature (valgrind runs code some 50x slower): minutes, not seconds.
 */
export async function countInstructions(
  suite: string,
  workload: InstructionWorkload,
  ops: number,
  quick: boolean,
): Promise<InstructionResult[]> {
  const directory = await mkdtemp(join(tmpdir(), 'keybound-callgrind-'))
  try {
    const materialPath = join(directory, 'material.json')
    await writeFile(materialPath, JSON.stringify(await workload.prepare(ops, quick)))
    const stdout = await runChild([
      '--tool=callgrind',
      `--dump-before=${MARKER_FUNCTION}`,
      `--callgrind-out-file=${join(directory, 'cg.%p')}`,
      process.execPath,
      '--expose-gc',
      ...CHILD_NODE_FLAGS,
      CHILD,
      suite,
      materialPath,
      String(ops),
    ])
    const { labels, cases } = JSON.parse(stdout) as {
      labels: SegmentLabel[]
      cases: { name: string; baseline: string; warmupOps: number }[]
    }
    return instructionResults(labels, await readDumpTotals(directory), cases)
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}
