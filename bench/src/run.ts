/**
 * `npm run bench`: runs the registered suites, prints one table per suite and writes the results
 * to `bench/results/<suite>-<date>.json` and `bench/results/latest.json`.
 *
 *   node bench/dist/run.js [--only <suite>[,<suite>…]] [--quick] [--instructions]
 *
 * `--instructions` also counts instructions per operation under callgrind for the suites that
 * support it (core-verify, core-create, client-proof); see bench/README.md.
 *
 * Numbers from a shared machine are noisy; the harness alternates contenders round by round and
 * reports medians and ratios. Missed targets are reported, never turned into a failing exit code.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  countInstructions,
  DEFAULT_INSTRUCTION_OPS,
  QUICK_INSTRUCTION_OPS,
  SEGMENTS,
  type InstructionResult,
} from './lib/instructions.js'
import { DEFAULT_ROUND_MS, DEFAULT_ROUNDS, DEFAULT_WARMUP_MS } from './lib/measure.js'
import { environment, renderSuite, suiteRecord, type SuiteRecord } from './lib/report.js'
import type { CaseResult, Suite, SuiteContext } from './lib/suite.js'
import { suites } from './suites/index.js'

const RESULTS = fileURLToPath(new URL('../results/', import.meta.url))

function usage(): string {
  return [
    'usage: node bench/dist/run.js [--only <suite>[,<suite>...]] [--quick] [--instructions]',
    `suites: ${suites.map((suite) => suite.name).join(', ')}`,
  ].join('\n')
}

async function readLatest(path: string): Promise<Record<string, SuiteRecord>> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as {
      suites?: Record<string, SuiteRecord>
    }
    return parsed.suites ?? {}
  } catch {
    return {}
  }
}

// Each wall-clock case gets the instruction counts of the case of the same name.
function withInstructions(
  cases: readonly CaseResult[],
  counted: readonly InstructionResult[],
): CaseResult[] {
  return cases.map((kase) => {
    const instructions = counted.find((each) => each.name === kase.name)
    return instructions === undefined ? kase : { ...kase, instructions }
  })
}

async function runSuite(
  suite: Suite,
  context: SuiteContext,
  instructions: boolean,
): Promise<CaseResult[]> {
  const cases = await suite.run(context)
  if (!instructions || suite.instructions === undefined) return cases
  const ops = context.quick ? QUICK_INSTRUCTION_OPS : DEFAULT_INSTRUCTION_OPS
  context.log(`  counting instructions under callgrind (${SEGMENTS} segments of ${ops} ops)`)
  const counted = await countInstructions(suite.name, suite.instructions, ops, context.quick)
  return withInstructions(cases, counted)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      instructions: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help === true) {
    console.log(usage())
    return
  }
  const only = (values.only ?? []).flatMap((value) => value.split(',')).filter(Boolean)
  const unknown = only.filter((name) => !suites.some((suite) => suite.name === name))
  if (unknown.length > 0) {
    console.error(`unknown suite: ${unknown.join(', ')}\n${usage()}`)
    process.exitCode = 2
    return
  }
  const selected = only.length === 0 ? suites : suites.filter((suite) => only.includes(suite.name))
  const quick = values.quick === true
  const context: SuiteContext = {
    quick,
    rounds: quick ? 3 : DEFAULT_ROUNDS,
    roundMs: quick ? 100 : DEFAULT_ROUND_MS,
    warmupMs: quick ? 50 : DEFAULT_WARMUP_MS,
    log: (message) => console.error(message),
  }

  const date = new Date()
  const day = date.toISOString().slice(0, 10)
  await mkdir(RESULTS, { recursive: true })
  const latestPath = `${RESULTS}latest.json`
  const latest = await readLatest(latestPath)
  let met = 0
  let total = 0
  for (const suite of selected) {
    console.error(`running ${suite.name}${quick ? ' (quick)' : ''}`)
    // Taken before the suite starts, so that the load average is the neighbours', not ours.
    const machine = environment()
    const started = performance.now()
    const cases = await runSuite(suite, context, values.instructions === true)
    console.error(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    console.log(`\n${renderSuite(suite, cases, machine)}\n`)
    const record = suiteRecord(suite, cases, context, date, machine)
    met += record.targets.met
    total += record.targets.total
    latest[suite.name] = record
    await writeFile(`${RESULTS}${suite.name}-${day}.json`, `${JSON.stringify(record, null, 2)}\n`)
  }
  const ordered = Object.fromEntries(
    Object.entries(latest).sort(([a], [b]) => a.localeCompare(b)),
  ) as Record<string, SuiteRecord>
  await writeFile(
    latestPath,
    `${JSON.stringify({ updated: date.toISOString(), suites: ordered }, null, 2)}\n`,
  )
  console.log(`targets met: ${met}/${total}${quick ? ' (quick run: smoke numbers only)' : ''}`)
  console.log(`results: ${RESULTS}latest.json and ${RESULTS}<suite>-${day}.json`)
}

await main()
