/**
 * Throughput measurement: a warm-up, then several rounds in which the contenders take turns
 * (A B C A B C …), each for a fixed time or a fixed number of operations. Every operation is
 * awaited before the next one starts: one core, no concurrency. The median of the per-round
 * rates is what gets reported, so a burst of noise from another process on the machine spoils
 * one round of one contender rather than the comparison.
 *
 * Each turn also records the process's CPU time (user + system, all threads, so WebCrypto's
 * thread-pool work counts too). Operations per CPU-second are much steadier than wall-clock
 * rates when other jobs share the machine, and are reported next to them.
 *
 * Before every turn the heap is collected (when `gc` can be had), so that no contender pays in
 * its turn for garbage another one left behind: a peer that allocates heavily would otherwise
 * make whoever runs after it look slow.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** One thing to measure. `op` is called once per operation and may return a promise. */
export interface Contender {
  readonly name: string
  readonly op: () => unknown
}

export interface MeasureOptions {
  /** Number of timed rounds (default 7). */
  rounds?: number
  /** Length of one contender's turn in a round, in milliseconds (default 300). */
  roundMs?: number
  /** Run exactly this many operations per turn instead of running for `roundMs`. */
  opsPerRound?: number
  /** Warm-up time per contender before the first round, in milliseconds (default 200). */
  warmupMs?: number
  /**
   * At least this many warm-up operations per contender (default 0), e.g. one pass over every
   * client key so that per-key caches are measured warm, as a long-running server has them.
   */
  warmupOps?: number
}

export interface ContenderResult {
  readonly name: string
  /** Median of the per-round rates. */
  readonly opsPerSec: number
  /** Rate of each round, in round order. */
  readonly rounds: readonly number[]
  /** Median of the per-round operations per CPU-second of this process. */
  readonly opsPerCpuSec: number
  /** Operations run in the timed rounds. */
  readonly ops: number
}

/** `global.gc` if the process has it, else one obtained at run time; `undefined` if impossible. */
export function obtainGc(): (() => void) | undefined {
  if (typeof globalThis.gc === 'function') return globalThis.gc as () => void
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    return typeof gc === 'function' ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
}

const collect = obtainGc()

export const DEFAULT_ROUNDS = 7
export const DEFAULT_ROUND_MS = 300
export const DEFAULT_WARMUP_MS = 200

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

interface Turn {
  readonly ops: number
  /** Wall-clock milliseconds. */
  readonly elapsed: number
  /** CPU milliseconds of the whole process. */
  readonly cpu: number
}

function cpuMsSince(since: NodeJS.CpuUsage): number {
  const usage = process.cpuUsage(since)
  return (usage.user + usage.system) / 1000
}

// `await` on a plain value also costs a microtask turn; doing it for every contender keeps the
// comparison even, and a synchronous baseline pays the same small toll as an async API.
async function runFor(op: () => unknown, ms: number, minOps = 1): Promise<Turn> {
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  const end = start + ms
  let ops = 0
  let now = start
  do {
    await op()
    ops++
    now = performance.now()
  } while (now < end || ops < minOps)
  return { ops, elapsed: now - start, cpu: cpuMsSince(cpuStart) }
}

/** Runs `op` exactly `count` times, one after the other, and times the whole. */
export async function runCount(op: () => unknown, count: number): Promise<Turn> {
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  for (let i = 0; i < count; i++) await op()
  return { ops: count, elapsed: performance.now() - start, cpu: cpuMsSince(cpuStart) }
}

/** Measures the contenders with alternating rounds; results come back in the given order. */
export async function measure(
  contenders: readonly Contender[],
  options: MeasureOptions = {},
): Promise<ContenderResult[]> {
  const rounds = options.rounds ?? DEFAULT_ROUNDS
  const roundMs = options.roundMs ?? DEFAULT_ROUND_MS
  const warmupMs = options.warmupMs ?? DEFAULT_WARMUP_MS
  const turn = (op: () => unknown) =>
    options.opsPerRound === undefined ? runFor(op, roundMs) : runCount(op, options.opsPerRound)

  for (const contender of contenders) await runFor(contender.op, warmupMs, options.warmupOps)

  const rates = contenders.map(() => [] as number[])
  const cpuRates = contenders.map(() => [] as number[])
  const counts = contenders.map(() => 0)
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) {
      collect?.()
      const { ops, elapsed, cpu } = await turn(contenders[i]!.op)
      rates[i]!.push((ops * 1000) / elapsed)
      cpuRates[i]!.push((ops * 1000) / Math.max(cpu, 0.001))
      counts[i]! += ops
    }
  }
  return contenders.map((contender, i) => ({
    name: contender.name,
    opsPerSec: median(rates[i]!),
    rounds: rates[i]!,
    opsPerCpuSec: median(cpuRates[i]!),
    ops: counts[i]!,
  }))
}
