/**
 * Output: one plain-text table per suite, and small JSON records for the results folder.
 */
import { cpus, loadavg } from 'node:os'
import { SEGMENTS } from './instructions.js'
import {
  ratioBetween,
  type CaseResult,
  type MeasurementRow,
  type Suite,
  type SuiteContext,
  type TargetResult,
} from './suite.js'

export interface SuiteRecord {
  readonly suite: string
  readonly description: string
  readonly date: string
  readonly quick: boolean
  readonly environment: Environment
  readonly settings: { rounds: number; roundMs: number; warmupMs: number }
  readonly cases: readonly unknown[]
  readonly targets: { met: number; total: number }
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits))

/**
 * The machine a result comes from. Absolute rates differ several-fold between machines of the
 * same kind, and a busy machine lowers them further, so no number is read without this.
 */
export interface Environment {
  readonly node: string
  readonly openssl: string
  readonly platform: string
  readonly cpus: number
  readonly cpuModel: string
  /** 1, 5 and 15-minute load averages taken just before the suite started. */
  readonly loadAverage: readonly [number, number, number]
}

/** Describes this machine now; call it right before a suite runs, for the load average. */
export function environment(): Environment {
  const list = cpus()
  const [one, five, fifteen] = loadavg().map((value) => round(value, 2))
  return {
    node: process.version,
    openssl: process.versions.openssl ?? 'none',
    platform: `${process.platform}-${process.arch}`,
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    loadAverage: [one ?? 0, five ?? 0, fifteen ?? 0],
  }
}

/** One line for the top of a table: CPU, cores, Node, OpenSSL and the load before the run. */
export function describeEnvironment(machine: Environment): string {
  const load = machine.loadAverage.map((value) => value.toFixed(2)).join(' ')
  return (
    `machine: ${machine.cpuModel}, ${machine.cpus} CPUs, ${machine.platform}, Node ${machine.node}, ` +
    `OpenSSL ${machine.openssl}, load average before the run ${load} (1/5/15 min)`
  )
}

function formatValue(value: number): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  })
}

function formatTarget(target: TargetResult): string {
  const suffix = target.baseline === undefined ? '' : 'x'
  const bounds: string[] = []
  if (target.min !== undefined) bounds.push(`>= ${target.min}${suffix}`)
  if (target.max !== undefined) bounds.push(`<= ${target.max}${suffix}`)
  const against = target.baseline === undefined ? '' : ` ${target.baseline}`
  return `${bounds.join(' and ')}${against}`
}

function ratioOf(kase: CaseResult, row: MeasurementRow): number {
  const baseline = kase.rows.find((candidate) => candidate.name === kase.baseline)
  return baseline === undefined ? Number.NaN : ratioBetween(row, baseline)
}

function instructionsOf(kase: CaseResult, name: string): number | undefined {
  return kase.instructions?.rows.find((row) => row.name === name)?.perOp
}

// Baseline instructions over the contender's, so that it reads like the throughput ratio.
function instructionRatioOf(kase: CaseResult, row: MeasurementRow): number {
  const own = instructionsOf(kase, row.name)
  const baseline = instructionsOf(kase, kase.baseline)
  return own === undefined || baseline === undefined ? Number.NaN : baseline / own
}

function formatInstructions(perOp: number | undefined): string {
  return perOp === undefined ? '' : `${(perOp / 1000).toFixed(0)}k`
}

function cpuRatioOf(kase: CaseResult, value: number | undefined): number {
  const baseline = kase.rows.find((row) => row.name === kase.baseline)?.perCpuSecond
  return value === undefined || baseline === undefined ? Number.NaN : value / baseline
}

const INSTRUCTION_COLUMNS = new Set([6, 7])

/** Renders the tables of one suite, headed by the machine they were measured on. */
export function renderSuite(
  suite: Suite,
  cases: readonly CaseResult[],
  machine: Environment,
): string {
  const header = [
    'case',
    'contender',
    'value',
    'vs baseline',
    'per CPU-s',
    'CPU ratio',
    'instr/op',
    'instr ratio',
    'target',
    'result',
  ]
  const lines: string[][] = []
  for (const kase of cases) {
    kase.rows.forEach((row, index) => {
      const targets = kase.targets.filter((target) => target.contender === row.name)
      const isBaseline = row.name === kase.baseline
      const ratio = ratioOf(kase, row)
      const cpuRatio = cpuRatioOf(kase, row.perCpuSecond)
      const instructionRatio = instructionRatioOf(kase, row)
      lines.push([
        index === 0 ? kase.name : '',
        `${row.name}${isBaseline ? ' (baseline)' : ''}`,
        `${formatValue(row.value)} ${kase.unit}`,
        Number.isNaN(ratio) ? '' : `${ratio.toFixed(2)}x`,
        row.perCpuSecond === undefined ? '' : formatValue(row.perCpuSecond),
        Number.isNaN(cpuRatio) ? '' : `${cpuRatio.toFixed(2)}x`,
        formatInstructions(instructionsOf(kase, row.name)),
        Number.isNaN(instructionRatio) ? '' : `${instructionRatio.toFixed(2)}x`,
        targets.map(formatTarget).join('; '),
        targets.map((target) => (target.pass ? 'PASS' : 'FAIL')).join(' ') +
          (row.note === undefined ? '' : `${targets.length > 0 ? '  ' : ''}(${row.note})`),
      ])
    })
  }
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  )
  const numeric = new Set([2, 3, 4, 5, 6, 7])
  // The instruction columns only when something was counted (`--instructions`).
  const shown = (column: number): boolean =>
    !INSTRUCTION_COLUMNS.has(column) || cases.some((kase) => kase.instructions !== undefined)
  const format = (line: string[]): string =>
    line
      .map((cell, column) =>
        numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .filter((_, column) => shown(column))
      .join('  ')
      .trimEnd()
  const rule = widths
    .filter((_, column) => shown(column))
    .map((width) => '-'.repeat(width))
    .join('  ')
  const out = [
    `${suite.name}: ${suite.description}`,
    describeEnvironment(machine),
    format(header),
    rule,
  ]
  cases.forEach((kase, index) => {
    if (index > 0) out.push('')
    for (const line of lines.splice(0, kase.rows.length)) out.push(format(line))
  })
  return out.join('\n')
}

function instructionFields(
  kase: CaseResult,
  row: MeasurementRow,
): { instructionsPerOp?: number; instructionRange?: number[]; instructionRatio?: number } {
  const counted = kase.instructions?.rows.find((each) => each.name === row.name)
  if (counted === undefined) return {}
  return {
    instructionsPerOp: Math.round(counted.perOp),
    instructionRange: counted.range.map((value) => Math.round(value)),
    instructionRatio: round(instructionRatioOf(kase, row), 3),
  }
}

/** The JSON form of a suite's results: values rounded, so that diffs stay readable. */
export function suiteRecord(
  suite: Suite,
  cases: readonly CaseResult[],
  context: SuiteContext,
  date: Date,
  machine: Environment,
): SuiteRecord {
  const targets = cases.flatMap((kase) => kase.targets)
  return {
    suite: suite.name,
    description: suite.description,
    date: date.toISOString(),
    quick: context.quick,
    environment: machine,
    settings: { rounds: context.rounds, roundMs: context.roundMs, warmupMs: context.warmupMs },
    cases: cases.map((kase) => ({
      name: kase.name,
      unit: kase.unit,
      baseline: kase.baseline,
      rows: kase.rows.map((row) => ({
        name: row.name,
        value: round(row.value, row.value >= 100 ? 0 : 2),
        ratio: round(ratioOf(kase, row), 3),
        ...(row.perCpuSecond === undefined
          ? {}
          : {
              perCpuSecond: Math.round(row.perCpuSecond),
              cpuRatio: round(cpuRatioOf(kase, row.perCpuSecond), 3),
            }),
        ...instructionFields(kase, row),
        ...(row.rounds === undefined
          ? {}
          : { rounds: row.rounds.map((value) => Math.round(value)) }),
        ...(row.note === undefined ? {} : { note: row.note }),
      })),
      targets: kase.targets.map((target) => ({ ...target, actual: round(target.actual, 3) })),
      ...(kase.instructions === undefined
        ? {}
        : {
            instructions: {
              tool: 'valgrind --tool=callgrind',
              segments: SEGMENTS,
              opsPerSegment: kase.instructions.ops,
              warmupOps: kase.instructions.warmupOps,
            },
          }),
    })),
    targets: { met: targets.filter((target) => target.pass).length, total: targets.length },
  }
}
