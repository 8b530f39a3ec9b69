/**
 * Users of the sign-in page, as the config file lists them (password hashes only).
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
