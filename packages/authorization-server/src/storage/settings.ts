/**
 * Named server settings the server makes itself (the nonce secret when none is configured,
 * upgraded password hashes), one JSON or text value per name.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * The value stored under `name`; `undefined` when there is none.
 * @example
 * ```ts
 * const value = await findSetting(db, 'nonce_secret')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export async function findSetting(db: Kysely<Database>, name: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('kb_settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirst()
  return row?.value
}

/**
 * The value stored under `name`, storing `create()` first when there is none. When instances
 * race, the first insert wins and every instance returns its value; an insert that failed for
 * another reason is rethrown.
 * @example
 * ```ts
 * const secret = await findOrCreateSetting(db, 'nonce_secret', () => randomBytes(32).toString('base64url'))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export async function findOrCreateSetting(
  db: Kysely<Database>,
  name: string,
  create: () => string,
): Promise<string> {
  const existing = await findSetting(db, name)
  if (existing !== undefined) return existing
  const value = create()
  try {
    await db.insertInto('kb_settings').values({ name, value }).execute()
    return value
  } catch (error) {
    // Another instance stored one first (primary key); anything else is a real failure.
    const stored = await findSetting(db, name)
    if (stored === undefined) throw error
    return stored
  }
}

/**
 * Stores `value` under `name`, replacing any earlier value. Run it in a transaction when the
 * value depends on what was read before.
 * @example
 * ```ts
 * await replaceSetting(trx, name, JSON.stringify({ replaces, hash }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export async function replaceSetting(
  db: Kysely<Database>,
  name: string,
  value: string,
): Promise<void> {
  await db.deleteFrom('kb_settings').where('name', '=', name).execute()
  await db.insertInto('kb_settings').values({ name, value }).execute()
}

/**
 * Deletes the setting `name`, if any.
 * @example
 * ```ts
 * await deleteSetting(db, name)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export async function deleteSetting(db: Kysely<Database>, name: string): Promise<void> {
  await db.deleteFrom('kb_settings').where('name', '=', name).execute()
}
