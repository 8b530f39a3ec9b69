/**
 * Authorization codes (RFC 6749 §4.1.2), stored by hash and consumed once inside the token
 * transaction.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { AuthorizationCodesTable, Database } from './database.js'

/**
 * Stores a new authorization code.
 * @example
 * ```ts
 * await insertCode(trx, { code_hash: hashHandle(code), …, consumed_at: null })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function insertCode(
  db: Kysely<Database>,
  code: AuthorizationCodesTable,
): Promise<void> {
  await db.insertInto('kb_authorization_codes').values(code).execute()
}

/**
 * Finds a code by hash in any state (consumed, expired); `undefined` when unknown.
 * @example
 * ```ts
 * const row = await findCode(ctx.db, hashHandle(params.code))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 */
export async function findCode(
  db: Kysely<Database>,
  codeHash: string,
): Promise<AuthorizationCodesTable | undefined> {
  return db
    .selectFrom('kb_authorization_codes')
    .selectAll()
    .where('code_hash', '=', codeHash)
    .executeTakeFirst()
}

/**
 * Consumes a code once (compare-and-set on `consumed_at`); false when it was consumed already,
 * which the caller treats as reuse (RFC 6749 §4.1.2).
 * @example
 * ```ts
 * if (!(await consumeCode(trx, row.code_hash, now))) return undefined
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function consumeCode(
  db: Kysely<Database>,
  codeHash: string,
  now: number,
): Promise<boolean> {
  const consumed = await db
    .updateTable('kb_authorization_codes')
    .set({ consumed_at: now })
    .where('code_hash', '=', codeHash)
    .where('consumed_at', 'is', null)
    .executeTakeFirst()
  return consumed.numUpdatedRows === 1n
}
