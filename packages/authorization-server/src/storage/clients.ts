/**
 * The client rows: config clients, rewritten at every start so that the file stays their
 * source of truth, and clients registered through RFC 7591 with the hash of their registration
 * access token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { ClientsTable, Database, RegistrationsTable } from './database.js'

/**
 * Replaces the config clients with `rows`: earlier config clients go, and so does any client
 * (config or dynamic) holding one of their ids. Run it in a transaction, so that no instance
 * sees the set half written.
 * @example
 * ```ts
 * await inTransaction(db, (trx) => replaceConfigClients(trx, rows))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export async function replaceConfigClients(
  db: Kysely<Database>,
  rows: readonly ClientsTable[],
): Promise<void> {
  await db.deleteFrom('kb_clients').where('source', '=', 'config').execute()
  for (const row of rows) {
    await db.deleteFrom('kb_clients').where('client_id', '=', row.client_id).execute()
    await db.insertInto('kb_clients').values(row).execute()
  }
}

/**
 * Finds a client row by id; `undefined` when there is none.
 * @example
 * ```ts
 * const row = await findClientRow(db, 'my-app')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1
 */
export async function findClientRow(
  db: Kysely<Database>,
  clientId: string,
): Promise<ClientsTable | undefined> {
  return db
    .selectFrom('kb_clients')
    .selectAll()
    .where('client_id', '=', clientId)
    .executeTakeFirst()
}

/**
 * Stores a registered client and the hash of its registration access token. Run it in a
 * transaction: a client without its registration row could never be managed.
 * @example
 * ```ts
 * await inTransaction(db, (trx) => insertRegisteredClient(trx, row, registration))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1
 */
export async function insertRegisteredClient(
  db: Kysely<Database>,
  client: ClientsTable,
  registration: RegistrationsTable,
): Promise<void> {
  await db.insertInto('kb_clients').values(client).execute()
  await db.insertInto('kb_registrations').values(registration).execute()
}
