/**
 * Issued access tokens (opaque ones by hash, JWTs of a grant by `jti`) and the deny list of
 * revoked JWT `jti`s, kept until the token would have expired (RFC 7009 §2.1, RFC 7662 §2.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { AccessTokensTable, Database } from './database.js'

/**
 * Stores an issued access token.
 * @example
 * ```ts
 * await insertAccessToken(trx, { token_hash, jti, …, revoked_at: null })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
export async function insertAccessToken(
  db: Kysely<Database>,
  row: AccessTokensTable,
): Promise<void> {
  await db.insertInto('kb_access_tokens').values(row).execute()
}

/**
 * Finds an access token by hash in any state; `undefined` when unknown.
 * @example
 * ```ts
 * const row = await findAccessTokenByHash(ctx.db, hashHandle(token))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
export async function findAccessTokenByHash(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<AccessTokensTable | undefined> {
  return db
    .selectFrom('kb_access_tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst()
}

/**
 * Revokes one stored access token (an opaque one, found by hash).
 * @example
 * ```ts
 * await revokeAccessTokenByHash(ctx.db, hashHandle(token), now)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function revokeAccessTokenByHash(
  db: Kysely<Database>,
  tokenHash: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('kb_access_tokens')
    .set({ revoked_at: now })
    .where('token_hash', '=', tokenHash)
    .execute()
}

/**
 * Puts a JWT's `jti` on the deny list until `expiresAt`, in one statement so that two
 * revocations at once do not collide on the key. Listing it twice is harmless.
 * @example
 * ```ts
 * await denyJti(ctx.db, info.jti, info.exp)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function denyJti(db: Kysely<Database>, jti: string, expiresAt: number): Promise<void> {
  await db
    .insertInto('kb_revoked_jtis')
    .values({ jti, expires_at: expiresAt })
    .onConflict((conflict) => conflict.column('jti').doNothing())
    .execute()
}

/**
 * Whether a JWT's `jti` is on the deny list.
 * @example
 * ```ts
 * if (await isJtiDenied(ctx.db, claims.jti)) return undefined
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
export async function isJtiDenied(db: Kysely<Database>, jti: string): Promise<boolean> {
  const row = await db
    .selectFrom('kb_revoked_jtis')
    .select('jti')
    .where('jti', '=', jti)
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Revokes the live access tokens of a refresh-token family or a grant: opaque ones by their
 * row, JWTs by deny-listing their `jti` until they expire (a JWT itself cannot be recalled).
 * @example
 * ```ts
 * await revokeAccessTokensOf(trx, 'grant_id', grantId, now)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function revokeAccessTokensOf(
  db: Kysely<Database>,
  by: 'family_id' | 'grant_id',
  id: string,
  now: number,
): Promise<void> {
  await db
    .insertInto('kb_revoked_jtis')
    .columns(['jti', 'expires_at'])
    .expression((eb) =>
      eb
        .selectFrom('kb_access_tokens')
        .select(['jti', 'expires_at'])
        .where(by, '=', id)
        .where('format', '=', 'jwt')
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now),
    )
    .onConflict((conflict) => conflict.column('jti').doNothing())
    .execute()
  await db
    .updateTable('kb_access_tokens')
    .set({ revoked_at: now })
    .where(by, '=', id)
    .where('revoked_at', 'is', null)
    .execute()
}
