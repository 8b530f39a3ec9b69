/**
 * Sign-in interactions of the authorization endpoint: one row per authorization request shown
 * to a user, bound to the browser by the hash of its cookie, given a subject after the
 * password check and used once (RFC 6749 §10.12: a form cannot be completed elsewhere).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { AuthorizationRequestsTable, Database } from './database.js'

/** An interaction to store. */
export interface NewInteraction {
  requestHash: string
  clientId: string
  /** The validated authorization request parameters as JSON. */
  parameters: string
  browserHash: string
  expiresAt: number
}

/**
 * Stores a new interaction, without a subject.
 * @example
 * ```ts
 * await saveInteraction(ctx.db, { requestHash, clientId, parameters, browserHash, expiresAt })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function saveInteraction(
  db: Kysely<Database>,
  interaction: NewInteraction,
): Promise<void> {
  await db
    .insertInto('kb_authorization_requests')
    .values({
      request_hash: interaction.requestHash,
      kind: 'interaction',
      client_id: interaction.clientId,
      parameters: interaction.parameters,
      browser_hash: interaction.browserHash,
      subject: null,
      expires_at: interaction.expiresAt,
      used_at: null,
    })
    .execute()
}

/**
 * Finds an interaction by hash in any state (used, expired); pushed requests are not
 * interactions and are never returned.
 * @example
 * ```ts
 * const row = await findInteraction(ctx.db, hashHandle(params.interaction))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function findInteraction(
  db: Kysely<Database>,
  requestHash: string,
): Promise<AuthorizationRequestsTable | undefined> {
  return db
    .selectFrom('kb_authorization_requests')
    .selectAll()
    .where('request_hash', '=', requestHash)
    .where('kind', '=', 'interaction')
    .executeTakeFirst()
}

/**
 * Records who signed in for an interaction (before the consent page).
 * @example
 * ```ts
 * await setInteractionSubject(ctx.db, row.request_hash, user.subject)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function setInteractionSubject(
  db: Kysely<Database>,
  requestHash: string,
  subject: string,
): Promise<void> {
  await db
    .updateTable('kb_authorization_requests')
    .set({ subject })
    .where('request_hash', '=', requestHash)
    .where('kind', '=', 'interaction')
    .execute()
}

/**
 * Marks an interaction used once (compare-and-set); false when another request used it first.
 * @example
 * ```ts
 * if (!(await claimInteraction(trx, row.request_hash, now))) return false
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function claimInteraction(
  db: Kysely<Database>,
  requestHash: string,
  now: number,
): Promise<boolean> {
  const claimed = await db
    .updateTable('kb_authorization_requests')
    .set({ used_at: now })
    .where('request_hash', '=', requestHash)
    .where('kind', '=', 'interaction')
    .where('used_at', 'is', null)
    .executeTakeFirst()
  return claimed.numUpdatedRows === 1n
}

/**
 * Closes an interaction the user declined, whatever its state.
 * @example
 * ```ts
 * await closeInteraction(ctx.db, row.request_hash, now)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
export async function closeInteraction(
  db: Kysely<Database>,
  requestHash: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('kb_authorization_requests')
    .set({ used_at: now })
    .where('request_hash', '=', requestHash)
    .where('kind', '=', 'interaction')
    .execute()
}
