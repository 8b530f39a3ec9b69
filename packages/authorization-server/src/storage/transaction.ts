/**
 * One place where the routes open a transaction, so that they hold no database calls of their
 * own. Kysely rolls the transaction back when `work` throws.
 *
 * @see https://kysely.dev/docs/category/transactions
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Runs `work` in one transaction and returns its result.
 * @example
 * ```ts
 * const issued = await inTransaction(ctx.db, async (trx) => consumeCode(trx, hash, now))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function inTransaction<T>(
  db: Kysely<Database>,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(work)
}
