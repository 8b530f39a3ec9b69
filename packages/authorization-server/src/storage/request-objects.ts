/**
 * Signed request objects already used (RFC 9101 §10.8 replay), by a hash of the client and
 * the object's `jti`, kept until the object expires.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9101#section-10.8
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Records a request object as used until `expiresAt`; false when it was used already and has
 * not expired. An expired entry that the sweep has not removed yet no longer blocks: it is
 * taken over in the same statement.
 * @example
 * ```ts
 * if (!(await claimRequestObject(ctx.db, idHash, exp, now))) throw new OAuthError(…)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9101#section-10.8
 */
export async function claimRequestObject(
  db: Kysely<Database>,
  idHash: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  const claimed = await db
    .insertInto('kb_request_objects')
    .values({ id_hash: idHash, expires_at: expiresAt })
    .onConflict((conflict) =>
      conflict
        .column('id_hash')
        .doUpdateSet({ expires_at: expiresAt })
        .where('kb_request_objects.expires_at', '<', now),
    )
    .executeTakeFirst()
  return claimed.numInsertedOrUpdatedRows === 1n
}
