/**
 * What the reliability tests count, written to `test-output/reliability/<suite>.json` so that
 * `npm run reliability` can print one table (`scripts/reliability.mjs`). Writing is best effort:
 * a read-only checkout must not fail a test that passed.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Counters of one suite; every field is optional and summed across suites. */
export interface ReliabilityCounters {
  /** Property-based cases run (fast-check `numRuns`, summed). */
  fuzzCases?: number
  /** Faults injected: outages, kills, cut connections. */
  faultsInjected?: number
  /** HTTP requests answered by a server under test. */
  requestsServed?: number
  /** Replayed proofs that a server accepted (must be 0). */
  acceptedReplays?: number
  /** Writes acknowledged to a client and then missing (must be 0). */
  lostWrites?: number
  /** Resident set size of the test process at the start and end of a soak, in bytes. */
  rssStart?: number
  rssEnd?: number
  /** Live heap (after a full collection) at the start and end of a soak, in bytes. */
  heapStart?: number
  heapEnd?: number
  /** Free-form lines printed under the table (latency percentiles, say). */
  notes?: string[]
}

const DIRECTORY = join(import.meta.dirname, '..', '..', 'test-output', 'reliability')

/**
 * Writes the counters of one suite (a later run of the same suite replaces them).
 * @example
 * ```ts
 * recordReliability('server-fuzz', { fuzzCases: 20_000 })
 * ```
 */
export function recordReliability(suite: string, counters: ReliabilityCounters): void {
  try {
    mkdirSync(DIRECTORY, { recursive: true })
    const file = join(DIRECTORY, `${suite}.json`)
    writeFileSync(file, `${JSON.stringify({ suite, ...counters, at: new Date().toISOString() })}\n`)
  } catch {
    // Reporting only.
  }
}
