/**
 * Users of the sign-in page, as the config file lists them (password hashes only), and the
 * hashes upgraded at sign-in.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database, UsersTable } from './database.js'

/**
 * Finds a user by username; `undefined` when there is none.
 * @example
 * ```ts
 * const user = await findUser(ctx.db, params.username)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function findUser(
  db: Kysely<Database>,
  username: string,
): Promise<UsersTable | undefined> {
  return db.selectFrom('kb_users').selectAll().where('username', '=', username).executeTakeFirst()
}

/**
 * Replaces every user with `rows` (the users of the config file). Run it in a transaction, so
 * that no sign-in sees the table empty.
 * @example
 * ```ts
 * await inTransaction(db, (trx) => replaceUsers(trx, rows))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function replaceUsers(
  db: Kysely<Database>,
  rows: readonly UsersTable[],
): Promise<void> {
  await db.deleteFrom('kb_users').execute()
  for (const row of rows) await db.insertInto('kb_users').values(row).execute()
}

/**
 * Sets a user's password hash to `next`, only while it is still `current` (so that a change
 * made meanwhile is not overwritten).
 * @example
 * ```ts
 * await replacePasswordHash(trx, { username, current: verifiedHash, next: hash, now })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function replacePasswordHash(
  db: Kysely<Database>,
  change: { username: string; current: string; next: string; now: number },
): Promise<void> {
  await db
    .updateTable('kb_users')
    .set({ password_hash: change.next, updated_at: change.now })
    .where('username', '=', change.username)
    .where('password_hash', '=', change.current)
    .execute()
}
