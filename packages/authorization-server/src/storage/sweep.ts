/**
 * The sweep of expired rows: codes, pushed requests and sign-in interactions, refresh tokens,
 * access-token rows, deny-listed JWT ids and used request objects would otherwise stay in the
 * database for ever. It runs on SQLite and PostgreSQL alike and is safe with several instances
 * sharing one database:
 *
 * - one instance sweeps at a time: it holds a lease row (`kb_leases`), taken and renewed by a
 *   compare-and-set, that the others respect until it expires (a crashed holder's lease runs
 *   out, then another instance takes over);
 * - deletes go in bounded batches (`batchSize` rows a statement, a bounded number of statements
 *   a table and pass), with the event loop free between them;
 * - only rows that expired more than `graceSeconds` ago are deleted, each batch is one atomic
 *   statement, so a crash in the middle of a sweep has deleted only expired rows and nothing
 *   that is still valid (the clock skew between instances stays within the grace).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.5
 * @packageDocumentation
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { sql, type Kysely } from 'kysely'
import type { AuthorizationServerConfig } from '../config.js'
import { epochSeconds, randomHandle } from '../lib/crypto.js'
import { EXPIRING_KEYS, EXPIRING_TABLES, type Database } from './database.js'

/** How the sweep runs: `storage.sweep` of the config. */
export type SweepSettings = AuthorizationServerConfig['storage']['sweep']

/** What one sweep did. */
export interface SweepReport {
  /** `false` when another instance holds the sweep lease (nothing was deleted here). */
  swept: boolean
  /** Rows deleted, by table. */
  deleted: Partial<Record<(typeof EXPIRING_TABLES)[number], number>>
}

/** Statements per table in one pass: a large backlog is worked off over several passes. */
const MAX_BATCHES_PER_TABLE = 100
const LEASE_NAME = 'sweep'

/** One instance's sweeper. */
export interface Sweeper {
  /** Sweeps now when this instance holds (or can take) the lease. */
  sweep(options?: { maxBatchesPerTable?: number }): Promise<SweepReport>
  /** Stops the timer, waits for a running sweep and hands the lease back. */
  stop(): Promise<void>
}

/** What a sweeper works with. */
export interface SweeperDependencies {
  db: Kysely<Database>
  settings: SweepSettings
  /** Current time in milliseconds. */
  now(): number
  /** Reports a failed periodic sweep (the next one tries again). */
  onError(error: unknown): void
}

// Takes the lease when it is free or expired, or renews it when this instance holds it; one
// statement, so two instances cannot both win.
async function takeLease(
  db: Kysely<Database>,
  holder: string,
  now: number,
  seconds: number,
): Promise<boolean> {
  const expiresAt = now + seconds
  const result = await db
    .insertInto('kb_leases')
    .values({ name: LEASE_NAME, holder, expires_at: expiresAt })
    .onConflict((conflict) =>
      conflict
        .column('name')
        .doUpdateSet({ holder, expires_at: expiresAt })
        .where((eb) =>
          eb.or([eb('kb_leases.expires_at', '<=', now), eb('kb_leases.holder', '=', holder)]),
        ),
    )
    .executeTakeFirst()
  return result.numInsertedOrUpdatedRows === 1n
}

async function releaseLease(db: Kysely<Database>, holder: string): Promise<void> {
  await db
    .updateTable('kb_leases')
    .set({ expires_at: 0 })
    .where('name', '=', LEASE_NAME)
    .where('holder', '=', holder)
    .execute()
}

// One bounded batch: the keys of at most `limit` rows expired before `cutoff`, then those rows.
async function deleteBatch(
  db: Kysely<Database>,
  table: (typeof EXPIRING_TABLES)[number],
  cutoff: number,
  limit: number,
): Promise<number> {
  const key = sql.ref(EXPIRING_KEYS[table])
  const result =
    await sql`delete from ${sql.table(table)} where ${key} in (select ${key} from ${sql.table(table)} where expires_at < ${cutoff} limit ${limit})`.execute(
      db,
    )
  return Number(result.numAffectedRows ?? 0n)
}

async function sweepTable(
  db: Kysely<Database>,
  table: (typeof EXPIRING_TABLES)[number],
  cutoff: number,
  batchSize: number,
  maxBatches: number,
): Promise<number> {
  let deleted = 0
  for (let batch = 0; batch < maxBatches; batch++) {
    const count = await deleteBatch(db, table, cutoff, batchSize)
    deleted += count
    if (count < batchSize) break
    await yieldToEventLoop()
  }
  return deleted
}

/**
 * Creates the sweeper of one instance and, unless `intervalSeconds` is 0, starts its timer
 * (unref'd: it never keeps the process alive).
 * @example
 * ```ts
 * const sweeper = startSweeper({ db, settings: config.storage.sweep, now: Date.now, onError })
 * await sweeper.stop()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.5
 */
export function startSweeper(dependencies: SweeperDependencies): Sweeper {
  const { db, settings, now } = dependencies
  const holder = randomHandle(12)
  // Long enough to cover a pass and the wait until the holder's next one.
  const leaseSeconds = Math.max(60, settings.intervalSeconds * 2)
  let running: Promise<SweepReport> | undefined

  async function sweepOnce(maxBatches: number): Promise<SweepReport> {
    const nowSeconds = epochSeconds(now())
    if (!(await takeLease(db, holder, nowSeconds, leaseSeconds)))
      return { swept: false, deleted: {} }
    const cutoff = nowSeconds - settings.graceSeconds
    const deleted: SweepReport['deleted'] = {}
    for (const table of EXPIRING_TABLES)
      deleted[table] = await sweepTable(db, table, cutoff, settings.batchSize, maxBatches)
    return { swept: true, deleted }
  }

  function sweep(options: { maxBatchesPerTable?: number } = {}): Promise<SweepReport> {
    // One pass at a time per instance: a caller during a pass gets that pass's report.
    running ??= sweepOnce(options.maxBatchesPerTable ?? MAX_BATCHES_PER_TABLE).finally(() => {
      running = undefined
    })
    return running
  }

  const timer =
    settings.intervalSeconds === 0
      ? undefined
      : setInterval(() => void sweep().catch(dependencies.onError), settings.intervalSeconds * 1000)
  timer?.unref()

  return {
    sweep,
    async stop() {
      if (timer !== undefined) clearInterval(timer)
      await running?.catch(() => {})
      await releaseLease(db, holder).catch(() => {})
    },
  }
}
