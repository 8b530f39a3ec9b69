/**
 * Pushed authorization requests (RFC 9126): stored by the hash of their `request_uri`, taken
 * once by the authorization endpoint.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/** A pushed request to store. */
export interface NewPushedRequest {
  requestHash: string
  clientId: string
  /** The validated authorization request parameters as JSON. */
  parameters: string
  expiresAt: number
}

/**
 * Stores a pushed authorization request.
 * @example
 * ```ts
 * await savePushedRequest(ctx.db, { requestHash, clientId, parameters, expiresAt })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export async function savePushedRequest(
  db: Kysely<Database>,
  request: NewPushedRequest,
): Promise<void> {
  await db
    .insertInto('kb_authorization_requests')
    .values({
      request_hash: request.requestHash,
      kind: 'par',
      client_id: request.clientId,
      parameters: request.parameters,
      browser_hash: null,
      subject: null,
      expires_at: request.expiresAt,
      used_at: null,
    })
    .execute()
}

/**
 * Takes a pushed request of `clientId` once (RFC 9126 §7.3): a compare-and-set on `used_at`
 * claims the row, so of two concurrent takes only one gets the parameters. Returns the stored
 * parameters JSON, or `undefined` when the request is unknown, expired, used or another
 * client's.
 * @example
 * ```ts
 * const parameters = await takePushedRequest(ctx.db, { requestHash, clientId, now })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-7.3
 */
export async function takePushedRequest(
  db: Kysely<Database>,
  request: { requestHash: string; clientId: string; now: number },
): Promise<string | undefined> {
  const claimed = await db
    .updateTable('kb_authorization_requests')
    .set({ used_at: request.now })
    .where('request_hash', '=', request.requestHash)
    .where('kind', '=', 'par')
    .where('client_id', '=', request.clientId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', request.now)
    .executeTakeFirst()
  if (claimed.numUpdatedRows !== 1n) return undefined
  const row = await db
    .selectFrom('kb_authorization_requests')
    .select('parameters')
    .where('request_hash', '=', request.requestHash)
    .executeTakeFirstOrThrow()
  return row.parameters
}
