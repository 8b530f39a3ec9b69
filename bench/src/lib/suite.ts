/**
 * What a suite is and what it reports. A suite returns one or more cases; a case is one
 * comparison (same algorithm, same request shape) between contenders, one of which is the
 * named baseline, plus the targets that case is held to.
 */
import type { InstructionResult, InstructionWorkload } from './instructions.js'
import { measure, median, type Contender, type ContenderResult } from './measure.js'

export interface SuiteContext {
  /** `--quick`: fewer and shorter rounds, smaller pools; numbers are for smoke runs only. */
  readonly quick: boolean
  readonly rounds: number
  readonly roundMs: number
  readonly warmupMs: number
  /** Progress output (stderr, so that stdout stays the tables). */
  log(message: string): void
}

export interface Suite {
  readonly name: string
  readonly description: string
  run(context: SuiteContext): Promise<CaseResult[]>
  /** What `--instructions` counts for this suite; suites without it are not counted. */
  readonly instructions?: InstructionWorkload
}

/** A requirement: `contender / baseline` (or the contender's own value) within bounds. */
export interface Target {
  readonly contender: string
  /** Compare the ratio to this contender; without it the contender's value itself is compared. */
  readonly baseline?: string
  readonly min?: number
  readonly max?: number
}

export interface TargetResult extends Target {
  /** The ratio (or the value) that was compared. */
  readonly actual: number
  readonly pass: boolean
}

export interface MeasurementRow {
  readonly name: string
  readonly value: number
  /** Per-round values, when the value is a median of rounds. */
  readonly rounds?: readonly number[]
  /** Throughput per CPU-second of the process (median of rounds), next to wall-clock ops/s. */
  readonly perCpuSecond?: number
  readonly note?: string
}

export interface CaseResult {
  readonly name: string
  /** Unit of `value`, e.g. `ops/s` or `bytes/entry`. */
  readonly unit: string
  readonly higherIsBetter: boolean
  readonly baseline: string
  readonly rows: readonly MeasurementRow[]
  readonly targets: readonly TargetResult[]
  /** Instructions per operation under callgrind (`--instructions`), for some contenders. */
  readonly instructions?: InstructionResult
}

function rowOf(rows: readonly MeasurementRow[], name: string): MeasurementRow {
  const row = rows.find((candidate) => candidate.name === name)
  if (row === undefined) throw new Error(`no measurement named ${JSON.stringify(name)}`)
  return row
}

/**
 * `row / baseline`. Rounds measure every contender back to back, so when both rows have their
 * rounds, the ratio is the median of the per-round ratios: a machine that speeds up or slows
 * down between rounds moves both sides of each ratio alike. Otherwise, the ratio of the values.
 */
export function ratioBetween(row: MeasurementRow, baseline: MeasurementRow): number {
  const rounds = row.rounds
  const baseRounds = baseline.rounds
  if (rounds === undefined || baseRounds === undefined || rounds.length !== baseRounds.length)
    return row.value / baseline.value
  return median(rounds.map((value, index) => value / baseRounds[index]!))
}

/** Evaluates targets against measured rows. */
export function evaluateTargets(
  rows: readonly MeasurementRow[],
  targets: readonly Target[],
): TargetResult[] {
  return targets.map((target) => {
    const row = rowOf(rows, target.contender)
    const actual =
      target.baseline === undefined ? row.value : ratioBetween(row, rowOf(rows, target.baseline))
    const pass =
      (target.min === undefined || actual >= target.min) &&
      (target.max === undefined || actual <= target.max)
    return { ...target, actual, pass }
  })
}

/** Measures throughput contenders and packs them into a case. */
export async function throughputCase(
  context: SuiteContext,
  name: string,
  baseline: string,
  contenders: readonly Contender[],
  targets: readonly Target[] = [],
  options: { warmupOps?: number } = {},
): Promise<CaseResult> {
  context.log(`  ${name}: ${contenders.length} contenders × ${context.rounds} rounds`)
  const results: ContenderResult[] = await measure(contenders, {
    rounds: context.rounds,
    roundMs: context.roundMs,
    warmupMs: context.warmupMs,
    ...options,
  })
  const rows = results.map((result) => ({
    name: result.name,
    value: result.opsPerSec,
    rounds: result.rounds,
    perCpuSecond: result.opsPerCpuSec,
  }))
  return {
    name,
    unit: 'ops/s',
    higherIsBetter: true,
    baseline,
    rows,
    targets: evaluateTargets(rows, targets),
  }
}

/** What an HTTP load turn reports besides its throughput. */
export interface LoadTurn {
  readonly p50: number
  readonly p99: number
  /** Non-2xx answers and transport errors. */
  readonly failures: number
}

/** A load turn's throughput, per wall second and per server CPU-second, with its latency. */
export interface ThroughputTurn extends LoadTurn {
  readonly rps: number
  readonly perCpuSecond: number
}

/** The part of an autocannon result a turn reads. */
interface AutocannonOutcome {
  readonly '2xx': number
  readonly duration: number
  readonly non2xx: number
  readonly errors: number
  readonly latency: { readonly p50: number; readonly p99: number }
}

/** A turn from an autocannon result and the CPU seconds the servers used during it. */
export function throughputTurnOf(result: AutocannonOutcome, cpuSeconds: number): ThroughputTurn {
  const ok = result['2xx']
  return {
    rps: ok / result.duration,
    perCpuSecond: cpuSeconds > 0 ? ok / cpuSeconds : 0,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors,
  }
}

/**
 * One row per contender of an HTTP load case: the median of `pick` over its turns, with the
 * median latency percentiles and any failures in the note.
 */
export function loadRows<C extends { readonly name: string }, T extends LoadTurn>(
  contenders: readonly C[],
  turns: Map<C, T[]>,
  pick: (turn: T) => number,
): MeasurementRow[] {
  return contenders.map((contender) => {
    const list = turns.get(contender)!
    const failures = list.reduce((sum, each) => sum + each.failures, 0)
    return {
      name: contender.name,
      value: median(list.map(pick)),
      rounds: list.map(pick),
      note: `p50 ${median(list.map((each) => each.p50))} ms, p99 ${median(list.map((each) => each.p99))} ms${failures > 0 ? `, ${failures} non-2xx/errors` : ''}`,
    }
  })
}
