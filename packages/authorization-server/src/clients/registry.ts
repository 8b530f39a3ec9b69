/**
 * The client registry: clients from the config file plus clients registered through RFC 7591,
 * all kept in `kb_clients` so that every instance sharing the database sees the same set.
 * Secrets are held only as SHA-256 hashes.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { ClientConfig } from '../config.js'
import { epochSeconds, hashHandle } from '../lib/crypto.js'
import { findClientRow, insertRegisteredClient, replaceConfigClients } from '../storage/clients.js'
import type { ClientsTable, Database } from '../storage/database.js'
import { inTransaction } from '../storage/transaction.js'

/** A registered client as the server uses it (no plaintext secret). */
export type Client = Omit<ClientConfig, 'client_secret'> & {
  /** SHA-256 of the client secret (base64url) for the `client_secret_*` methods. */
  secretHash?: string
  source: 'config' | 'dynamic'
}

/** Finds clients by id. */
export interface ClientRegistry {
  find(clientId: string): Promise<Client | undefined>
  /** Stores a dynamically registered client (RFC 7591). */
  register(client: ClientConfig, registrationTokenHash: string, nowMs: number): Promise<Client>
}

function toClient(config: ClientConfig, source: Client['source']): Client {
  const { client_secret: secret, ...metadata } = config
  return {
    ...metadata,
    ...(secret === undefined ? {} : { secretHash: hashHandle(secret) }),
    source,
  }
}

function toRow(client: Client, nowMs: number): ClientsTable {
  const { secretHash, source, ...metadata } = client
  return {
    client_id: client.client_id,
    metadata: JSON.stringify(metadata),
    secret_hash: secretHash ?? null,
    source,
    created_at: epochSeconds(nowMs),
  }
}

function toDynamicClient(row: ClientsTable): Client {
  return {
    ...(JSON.parse(row.metadata) as Omit<Client, 'secretHash' | 'source'>),
    ...(row.secret_hash === null ? {} : { secretHash: row.secret_hash }),
    source: 'dynamic',
  }
}

// Registered clients rarely change; a bounded cache keeps the token endpoint off the database.
const CACHE_LIMIT = 10_000

/**
 * Builds the registry and writes the config clients to the database (replacing earlier
 * versions of the same config clients), so the file stays the source of truth for them.
 * @example
 * ```ts
 * const clients = await createClientRegistry(db, config.clients, Date.now())
 * const client = await clients.find('my-app')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1
 */
export async function createClientRegistry(
  db: Kysely<Database>,
  configured: ClientConfig[],
  nowMs: number,
): Promise<ClientRegistry> {
  const fromConfig = new Map(
    configured.map((config) => [config.client_id, toClient(config, 'config')]),
  )
  const cache = new Map<string, Client>()
  const rows = [...fromConfig.values()].map((client) => toRow(client, nowMs))
  await inTransaction(db, (trx) => replaceConfigClients(trx, rows))

  return {
    async find(clientId) {
      const known = fromConfig.get(clientId) ?? cache.get(clientId)
      if (known !== undefined) return known
      const row = await findClientRow(db, clientId)
      if (row === undefined || row.source !== 'dynamic') return undefined
      const client = toDynamicClient(row)
      if (cache.size >= CACHE_LIMIT) cache.clear()
      cache.set(clientId, client)
      return client
    },
    async register(config, registrationTokenHash, now) {
      const client = toClient(config, 'dynamic')
      const registration = {
        client_id: client.client_id,
        registration_token_hash: registrationTokenHash,
        created_at: epochSeconds(now),
      }
      await inTransaction(db, (trx) =>
        insertRegisteredClient(trx, toRow(client, now), registration),
      )
      return client
    },
  }
}
