/**
 * The access-token signing keys (RFC 7517 JWKs): the active one, retired ones published until
 * `expires_at` so that their tokens still verify, and the deletion of those past it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database, SigningKeysTable } from './database.js'

/**
 * Stores a new signing key.
 * @example
 * ```ts
 * await insertSigningKey(trx, { kid, alg, private_jwk, public_jwk, created_at: now, retired_at: null, expires_at: null })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-4.5
 */
export async function insertSigningKey(db: Kysely<Database>, key: SigningKeysTable): Promise<void> {
  await db.insertInto('kb_signing_keys').values(key).execute()
}

/**
 * The keys still published at `now` (active or retired, not expired), newest first, then by
 * `kid` so that the order is stable.
 * @example
 * ```ts
 * const rows = await listPublishedSigningKeys(db, now)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export async function listPublishedSigningKeys(
  db: Kysely<Database>,
  now: number,
): Promise<SigningKeysTable[]> {
  return db
    .selectFrom('kb_signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute()
}

/**
 * Deletes the keys whose publication ended, then retires the active ones: they stay published
 * until `now + retireAfter`. Run in the transaction that inserts the new key.
 * @example
 * ```ts
 * await retireSigningKeys(trx, now, config.accessTokens.lifetime + 60)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export async function retireSigningKeys(
  db: Kysely<Database>,
  now: number,
  retireAfter: number,
): Promise<void> {
  await db.deleteFrom('kb_signing_keys').where('expires_at', '<=', now).execute()
  await db
    .updateTable('kb_signing_keys')
    .set({ retired_at: now, expires_at: now + retireAfter })
    .where('retired_at', 'is', null)
    .execute()
}
