/**
 * Memory per entry of `MemoryReplayStore` at 1,000,000 entries, next to the obvious
 * `Map<"jkt:jti", expiry>`. Each store is filled in its own child process started with
 * `node --expose-gc`, so heap growth is measured after full collections without the main run
 * needing the flag, and one measurement cannot disturb the other.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { ChildReport, StoreKind } from '../children/replay-memory-child.js'
import { evaluateTargets, type MeasurementRow, type Suite } from '../lib/suite.js'

const execFileAsync = promisify(execFile)
const CHILD = fileURLToPath(new URL('../children/replay-memory-child.js', import.meta.url))
const ENTRIES = 1_000_000
const KEYBOUND = 'keybound MemoryReplayStore'
const NAIVE = 'Map<jkt:jti, expiry>'

async function fill(kind: StoreKind): Promise<ChildReport> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--expose-gc', CHILD, kind, String(ENTRIES)],
    { maxBuffer: 1 << 20 },
  )
  return JSON.parse(stdout) as ChildReport
}

function row(name: string, report: ChildReport): MeasurementRow {
  const rate = Math.round(report.insertsPerSec).toLocaleString('en-US')
  return { name, value: report.bytesPerEntry, note: `${rate} inserts/s` }
}

export const replayMemory: Suite = {
  name: 'replay-memory',
  description: `heap growth per entry at ${ENTRIES.toLocaleString('en-US')} entries (43-char jkt, 22-char jti)`,
  async run(context) {
    context.log(`  filling ${ENTRIES.toLocaleString('en-US')} entries in child processes`)
    // One after the other: the two children should not compete for the same cores.
    const keybound = await fill('keybound')
    const naive = await fill('map')
    const rows = [row(NAIVE, naive), row(KEYBOUND, keybound)]
    return [
      {
        name: `${ENTRIES.toLocaleString('en-US')} entries`,
        unit: 'bytes/entry',
        higherIsBetter: false,
        baseline: NAIVE,
        rows,
        targets: evaluateTargets(rows, [{ contender: KEYBOUND, max: 150 }]),
      },
    ]
  },
}
