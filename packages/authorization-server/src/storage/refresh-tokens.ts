/**
 * Refresh tokens by hash, in families: each use rotates the token, and a reused one revokes
 * its whole family (RFC 9700 §4.14.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database, RefreshTokensTable } from './database.js'

/**
 * Stores a refresh token row.
 * @example
 * ```ts
 * await insertRefreshTokenRow(trx, { token_hash, family_id, …, rotated_at: null, revoked_at: null })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function insertRefreshTokenRow(
  db: Kysely<Database>,
  row: RefreshTokensTable,
): Promise<void> {
  await db.insertInto('kb_refresh_tokens').values(row).execute()
}

/**
 * Finds a refresh token by hash in any state; `undefined` when unknown.
 * @example
 * ```ts
 * const row = await findRefreshTokenByHash(ctx.db, hashHandle(token))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function findRefreshTokenByHash(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<RefreshTokensTable | undefined> {
  return db
    .selectFrom('kb_refresh_tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst()
}

/**
 * Marks a refresh token rotated once (compare-and-set); false when it was rotated or revoked
 * already, which is reuse.
 * @example
 * ```ts
 * if (!(await rotateRefreshToken(trx, row.token_hash, now))) return undefined
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export async function rotateRefreshToken(
  db: Kysely<Database>,
  tokenHash: string,
  now: number,
): Promise<boolean> {
  const rotated = await db
    .updateTable('kb_refresh_tokens')
    .set({ rotated_at: now })
    .where('token_hash', '=', tokenHash)
    .where('rotated_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return rotated.numUpdatedRows === 1n
}

/**
 * Whether a refresh token is neither rotated nor revoked (without rotation, inside the token
 * transaction).
 * @example
 * ```ts
 * if (!(await isRefreshTokenLive(trx, row.token_hash))) return undefined
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function isRefreshTokenLive(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<boolean> {
  const live = await db
    .selectFrom('kb_refresh_tokens')
    .select('token_hash')
    .where('token_hash', '=', tokenHash)
    .where('rotated_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return live !== undefined
}

/**
 * Revokes every refresh token of a family that is not revoked yet.
 * @example
 * ```ts
 * await revokeRefreshFamily(trx, familyId, now)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export async function revokeRefreshFamily(
  db: Kysely<Database>,
  familyId: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('kb_refresh_tokens')
    .set({ revoked_at: now })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute()
}

/**
 * The refresh-token families issued from a grant.
 * @example
 * ```ts
 * for (const familyId of await listFamiliesOfGrant(trx, grantId)) …
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function listFamiliesOfGrant(
  db: Kysely<Database>,
  grantId: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('kb_refresh_tokens')
    .select('family_id')
    .distinct()
    .where('grant_id', '=', grantId)
    .execute()
  return rows.map((row) => row.family_id)
}
