/**
 * Grants: what a user allowed a client (the scope), created with the authorization code. Every
 * refresh-token family and access token of a code points at its grant, so that a reused code
 * revokes all of them (RFC 6749 §4.1.2), and a live grant stands for consent next time.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database, GrantsTable } from './database.js'

/**
 * Stores a new grant.
 * @example
 * ```ts
 * await insertGrant(trx, { grant_id, client_id, subject, scope, created_at: now, revoked_at: null })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function insertGrant(db: Kysely<Database>, grant: GrantsTable): Promise<void> {
  await db.insertInto('kb_grants').values(grant).execute()
}

/**
 * The scopes of the grants a subject gave a client that are not revoked (for consent).
 * @example
 * ```ts
 * const scopes = await listLiveGrantScopes(ctx.db, client.client_id, subject)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export async function listLiveGrantScopes(
  db: Kysely<Database>,
  clientId: string,
  subject: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('kb_grants')
    .select('scope')
    .where('client_id', '=', clientId)
    .where('subject', '=', subject)
    .where('revoked_at', 'is', null)
    .execute()
  return rows.map((row) => row.scope)
}

/**
 * Inside a transaction: whether the grant is live; on PostgreSQL the row is also share-locked
 * until the transaction ends, so a concurrent revocation waits or goes first. SQLite runs one
 * writer at a time, so the check alone is enough there.
 * @example
 * ```ts
 * if (!(await lockLiveGrant(trx, ctx.dialect, row.grant_id))) throw …
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function lockLiveGrant(
  trx: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  grantId: string,
): Promise<boolean> {
  const query = trx
    .selectFrom('kb_grants')
    .select('grant_id')
    .where('grant_id', '=', grantId)
    .where('revoked_at', 'is', null)
  const live = await (dialect === 'postgres' ? query.forShare() : query).executeTakeFirst()
  return live !== undefined
}

/**
 * Marks a grant revoked (its tokens are revoked by the caller in the same transaction).
 * @example
 * ```ts
 * await markGrantRevoked(trx, grantId, now)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function markGrantRevoked(
  db: Kysely<Database>,
  grantId: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('kb_grants')
    .set({ revoked_at: now })
    .where('grant_id', '=', grantId)
    .execute()
}
