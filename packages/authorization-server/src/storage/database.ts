/**
 * One Kysely schema for SQLite (better-sqlite3, the default: a file under the data folder) and
 * PostgreSQL (when `DATABASE_URL` is set). Times are whole seconds since the epoch; secrets and
 * tokens are stored only as SHA-256 hashes, so a database dump cannot be replayed.
 *
 * @see https://kysely.dev/docs/migrations
 * @packageDocumentation
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  SqliteDialect,
  type Migration,
  type MigrationProvider,
} from 'kysely'
import { loadSqliteDriver } from './sqlite-driver.js'
import pg from 'pg'

/** Clients from the config file (`source` `config`) and from RFC 7591 registration (`dynamic`). */
export interface ClientsTable {
  client_id: string
  /** RFC 7591 metadata as JSON, without the secret. */
  metadata: string
  /** SHA-256 of the client secret, base64url; null for public and `private_key_jwt` clients. */
  secret_hash: string | null
  source: string
  created_at: number
}

export interface UsersTable {
  username: string
  subject: string
  password_hash: string
  updated_at: number
}

/** Authorization codes, by hash; `consumed_at` is set once, inside the token transaction. */
export interface AuthorizationCodesTable {
  code_hash: string
  client_id: string
  grant_id: string
  subject: string
  redirect_uri: string
  scope: string
  code_challenge: string
  dpop_jkt: string | null
  resource: string | null
  expires_at: number
  consumed_at: number | null
}

/** Pushed authorization requests (RFC 9126) and login interactions, by `request_uri` hash. */
export interface AuthorizationRequestsTable {
  request_hash: string
  kind: string
  client_id: string
  /** Validated authorization request parameters as JSON. */
  parameters: string
  /** Hash of the browser cookie that owns a login interaction. */
  browser_hash: string | null
  subject: string | null
  expires_at: number
  used_at: number | null
}

export interface GrantsTable {
  grant_id: string
  client_id: string
  subject: string
  scope: string
  created_at: number
  revoked_at: number | null
}

/** Refresh tokens; one family per grant chain, rotated on use (RFC 9700 §4.14.2). */
export interface RefreshTokensTable {
  token_hash: string
  family_id: string
  grant_id: string
  client_id: string
  subject: string
  scope: string
  resource: string | null
  /** RFC 9449 §5: the DPoP key a public client's refresh token is bound to. */
  jkt: string | null
  created_at: number
  expires_at: number
  family_expires_at: number
  rotated_at: number | null
  revoked_at: number | null
}

/**
 * Access tokens: every opaque one, and the JWTs issued from a grant (code or refresh), so that
 * revoking the grant can deny-list their `jti`s. Client-credentials JWTs are not stored.
 */
export interface AccessTokensTable {
  token_hash: string
  jti: string
  family_id: string | null
  /** The grant (authorization code) the token comes from; null for client credentials. */
  grant_id: string | null
  /** `opaque` or `jwt`. */
  format: string
  client_id: string
  subject: string
  scope: string
  audience: string
  jkt: string | null
  issued_at: number
  expires_at: number
  revoked_at: number | null
}

/** JWT access tokens revoked before their `exp` (`/revoke`, a revoked grant or family). */
export interface RevokedJtisTable {
  jti: string
  expires_at: number
}

/**
 * Signed request objects (RFC 9101) already used, by a hash of the client and the object's
 * `jti` (or of the whole object when it has none), kept until the object has expired.
 */
export interface RequestObjectsTable {
  id_hash: string
  expires_at: number
}

/** Leases: which instance does a periodic job (the expired-row sweep) until `expires_at`. */
export interface LeasesTable {
  name: string
  holder: string
  expires_at: number
}

/** Access-token signing keys; retired keys stay published until `expires_at`. */
export interface SigningKeysTable {
  kid: string
  alg: string
  private_jwk: string
  public_jwk: string
  created_at: number
  retired_at: number | null
  expires_at: number | null
}

/** RFC 7591 registrations: hashes of the registration access tokens. */
export interface RegistrationsTable {
  client_id: string
  registration_token_hash: string
  created_at: number
}

/** Generated server settings (the nonce secret when none is configured). */
export interface SettingsTable {
  name: string
  value: string
}

export interface Database {
  kb_clients: ClientsTable
  kb_users: UsersTable
  kb_authorization_codes: AuthorizationCodesTable
  kb_authorization_requests: AuthorizationRequestsTable
  kb_grants: GrantsTable
  kb_refresh_tokens: RefreshTokensTable
  kb_access_tokens: AccessTokensTable
  kb_revoked_jtis: RevokedJtisTable
  kb_request_objects: RequestObjectsTable
  kb_leases: LeasesTable
  kb_signing_keys: SigningKeysTable
  kb_registrations: RegistrationsTable
  kb_settings: SettingsTable
}

/**
 * Tables whose rows stop mattering at `expires_at`, with their primary key: what the sweep
 * deletes (authorization codes, pushed requests and sign-in interactions, refresh tokens,
 * access-token rows, deny-listed JWT ids, used request objects).
 * @example
 * ```ts
 * for (const table of EXPIRING_TABLES) console.log(table, EXPIRING_KEYS[table])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.5
 */
export const EXPIRING_KEYS = {
  kb_authorization_codes: 'code_hash',
  kb_authorization_requests: 'request_hash',
  kb_refresh_tokens: 'token_hash',
  kb_access_tokens: 'token_hash',
  kb_revoked_jtis: 'jti',
  kb_request_objects: 'id_hash',
} as const satisfies Partial<Record<keyof Database, string>>

/** The names of {@link EXPIRING_KEYS}, in the order the sweep visits them. */
export const EXPIRING_TABLES = Object.keys(EXPIRING_KEYS) as (keyof typeof EXPIRING_KEYS)[]

// Migrations are append-only: a released one never changes.
const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('kb_clients')
        .addColumn('client_id', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'varchar(64)')
        .addColumn('source', 'varchar(16)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('kb_users')
        .addColumn('username', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('subject', 'varchar(255)', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('kb_grants')
        .addColumn('grant_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('client_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('subject', 'varchar(255)', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute()
      await db.schema
        .createIndex('kb_grants_client_subject')
        .on('kb_grants')
        .columns(['client_id', 'subject'])
        .execute()
      await db.schema
        .createTable('kb_authorization_codes')
        .addColumn('code_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('client_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('grant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('subject', 'varchar(255)', (c) => c.notNull())
        .addColumn('redirect_uri', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('code_challenge', 'varchar(128)', (c) => c.notNull())
        .addColumn('dpop_jkt', 'varchar(64)')
        .addColumn('resource', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('consumed_at', 'bigint')
        .execute()
      await db.schema
        .createTable('kb_authorization_requests')
        .addColumn('request_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('client_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('parameters', 'text', (c) => c.notNull())
        .addColumn('browser_hash', 'varchar(64)')
        .addColumn('subject', 'varchar(255)')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema
        .createTable('kb_refresh_tokens')
        .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('family_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('grant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('client_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('subject', 'varchar(255)', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('resource', 'text')
        .addColumn('jkt', 'varchar(64)')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('family_expires_at', 'bigint', (c) => c.notNull())
        .addColumn('rotated_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute()
      await db.schema
        .createIndex('kb_refresh_tokens_family')
        .on('kb_refresh_tokens')
        .column('family_id')
        .execute()
      await db.schema
        .createIndex('kb_refresh_tokens_grant')
        .on('kb_refresh_tokens')
        .column('grant_id')
        .execute()
      await db.schema
        .createTable('kb_access_tokens')
        .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('jti', 'varchar(64)', (c) => c.notNull())
        .addColumn('family_id', 'varchar(64)')
        .addColumn('client_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('subject', 'varchar(255)', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('audience', 'text', (c) => c.notNull())
        .addColumn('jkt', 'varchar(64)')
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute()
      await db.schema
        .createIndex('kb_access_tokens_family')
        .on('kb_access_tokens')
        .column('family_id')
        .execute()
      await db.schema
        .createTable('kb_revoked_jtis')
        .addColumn('jti', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('kb_signing_keys')
        .addColumn('kid', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('alg', 'varchar(16)', (c) => c.notNull())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute()
      await db.schema
        .createTable('kb_registrations')
        .addColumn('client_id', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('registration_token_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('kb_settings')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute()
    },
  },
  '0002_request_objects': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('kb_request_objects')
        .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  },
  '0003_access_token_grants': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('kb_access_tokens').addColumn('grant_id', 'varchar(64)').execute()
      await db.schema
        .alterTable('kb_access_tokens')
        .addColumn('format', 'varchar(8)', (c) => c.notNull().defaultTo('opaque'))
        .execute()
      await db.schema
        .createIndex('kb_access_tokens_grant')
        .on('kb_access_tokens')
        .column('grant_id')
        .execute()
    },
  },
  '0004_expiry_sweep': {
    async up(db: Kysely<any>) {
      // The sweep finds expired rows by these, a bounded batch at a time.
      const tables = [
        'kb_authorization_codes',
        'kb_authorization_requests',
        'kb_refresh_tokens',
        'kb_access_tokens',
        'kb_revoked_jtis',
        'kb_request_objects',
      ]
      for (const table of tables) {
        await db.schema.createIndex(`${table}_expires_at`).on(table).column('expires_at').execute()
      }
      await db.schema
        .createTable('kb_leases')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('holder', 'varchar(64)', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  },
}

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS }

/** Where the database is. */
export interface DatabaseOptions {
  /** PostgreSQL connection string; SQLite when left out. */
  databaseUrl?: string
  /** Folder of the SQLite file. */
  dataDir: string
  /** PostgreSQL schema (created when missing). */
  schema?: string
}

/** An open database and what kind it is. */
export interface OpenDatabase {
  db: Kysely<Database>
  dialect: 'sqlite' | 'postgres'
}

// bigint columns come back from pg as strings unless told otherwise; our values are
// seconds since the epoch, far inside Number's exact range.
const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

function openPostgres(options: DatabaseOptions & { databaseUrl: string }): OpenDatabase {
  const schema = options.schema
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: 10,
    types: PG_TYPES as pg.CustomTypesConfig,
    // One schema per deployment (or per test run): every connection looks there first.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    // A database that does not answer must turn into 503s, not requests that wait forever.
    connectionTimeoutMillis: 5_000,
  })
  // An idle connection that the server drops (restart, failover, network cut) is reported
  // here; without a listener the 'error' event would crash the process. The next query gets a
  // fresh connection or its own error (answered 503).
  pool.on('error', () => {})
  // The same for a connection that is checked out between two queries (inside a transaction,
  // say): pg-pool only listens to idle ones, and an unheard 'error' event kills the process.
  pool.on('connect', (client) => client.on('error', () => {}))
  return {
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    dialect: 'postgres',
  }
}

function openSqlite(options: DatabaseOptions): OpenDatabase {
  const dir = resolve(options.dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const SQLite = loadSqliteDriver()
  const database = new SQLite(join(dir, 'keybound-as.sqlite'))
  // WAL lets readers run beside the writer; synchronous=FULL makes every commit that was
  // answered survive a killed process and a power cut, so no issued token is ever lost.
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = FULL')
  database.pragma('busy_timeout = 5000')
  return {
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
    dialect: 'sqlite',
  }
}

/**
 * Opens the database (PostgreSQL when `databaseUrl` is set, else the SQLite file) and applies
 * pending migrations. Throws when a migration fails.
 * @example
 * ```ts
 * const { db } = await openDatabase({ dataDir: './data' })
 * ```
 * @see https://kysely.dev/docs/migrations
 */
export async function openDatabase(options: DatabaseOptions): Promise<OpenDatabase> {
  const open =
    options.databaseUrl === undefined
      ? openSqlite(options)
      : openPostgres({ ...options, databaseUrl: options.databaseUrl })
  try {
    if (open.dialect === 'postgres' && options.schema !== undefined) {
      await sql`create schema if not exists ${sql.id(options.schema)}`.execute(open.db)
    }
    const migrator = new Migrator({
      db: open.db,
      provider,
      migrationTableName: 'kb_migrations',
      migrationLockTableName: 'kb_migrations_lock',
      ...(open.dialect === 'postgres' && options.schema !== undefined
        ? { migrationTableSchema: options.schema }
        : {}),
    })
    const { error } = await migrator.migrateToLatest()
    if (error !== undefined) throw error instanceof Error ? error : new Error(String(error))
  } catch (error) {
    await open.db.destroy()
    throw error
  }
  return open
}

/**
 * Runs the cheapest query there is, for `/healthz`; rejects when the database does not answer.
 * @example
 * ```ts
 * await pingDatabase(db)
 * ```
 * @see https://kysely.dev/docs/recipes/raw-sql
 */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db)
}
