/**
 * Which SQLite engine the authorization server opens its file with.
 *
 * Node 22.16 and later have `node:sqlite` built in: no native module to download or compile, so
 * the package installs light and nothing is built on install. It is used through a small adapter
 * that gives Kysely's `SqliteDialect` the better-sqlite3 shape it expects.
 *
 * Older Node (20, and 22 before 22.16, where `node:sqlite` is missing, behind a flag or lacks
 * `StatementSync#columns`) falls back to better-sqlite3 12, an optional peer dependency the
 * adopter installs only there. Version 12 is never loaded on later Node: it aborts the process on
 * Node 24 when a statement is collected outside a JS context (`RemoveEnvironmentCleanupHook`).
 * When neither engine is there, opening the database fails with an error that says what to do.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** A prepared statement as Kysely's `SqliteDialect` uses it (better-sqlite3's shape). */
export interface SqliteStatement {
  /** True when the statement returns rows (a `select`, or a write with `returning`). */
  readonly reader: boolean
  all(parameters: ReadonlyArray<unknown>): unknown[]
  run(parameters: ReadonlyArray<unknown>): {
    changes: number | bigint
    lastInsertRowid: number | bigint
  }
  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown>
}

/** An open SQLite file: what Kysely's `SqliteDialect` needs, plus `pragma`. */
export interface SqliteConnection {
  prepare(sql: string): SqliteStatement
  /** Runs `PRAGMA <source>` (e.g. `journal_mode = WAL`). */
  pragma(source: string): unknown
  close(): void
}

/** Opens (creating when missing) the SQLite file at a path. */
export type SqliteConstructor = new (path: string) => SqliteConnection

/** The engine {@link loadSqliteDriver} picked, for logs and tests. */
export type SqliteEngine = 'node:sqlite' | 'better-sqlite3'

/** The part of `node:sqlite` the adapter uses (typed here: `@types/node` 20 does not have it). */
interface NodeSqliteStatement {
  columns(): unknown[]
  all(...parameters: unknown[]): unknown[]
  run(...parameters: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint }
  iterate(...parameters: unknown[]): IterableIterator<unknown>
}
interface NodeSqliteDatabase {
  prepare(sql: string): NodeSqliteStatement
  exec(sql: string): void
  close(): void
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string) => NodeSqliteDatabase
  StatementSync: { prototype: Partial<NodeSqliteStatement> }
}

/**
 * Loads a built-in module that announces itself as experimental (Node 22 and 23 print "SQLite is
 * an experimental feature" to stderr on the first load) without that warning: it would be the
 * first line of every `keybound-as` run and of every error message the CLI prints. Only the
 * ExperimentalWarning emitted during this load is dropped; any other warning still goes out.
 */
function requireWithoutExperimentalWarning(name: string): unknown {
  const emitWarning = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string })?.type
    const isExperimental =
      type === 'ExperimentalWarning' ||
      (warning instanceof Error && warning.name === 'ExperimentalWarning')
    if (!isExperimental)
      (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest)
  }) as typeof process.emitWarning
  try {
    return require(name)
  } finally {
    process.emitWarning = emitWarning
  }
}

/** `node:sqlite` when this Node has it unflagged and complete enough, else undefined. */
function findNodeSqlite(): NodeSqliteModule | undefined {
  try {
    const sqlite = requireWithoutExperimentalWarning('node:sqlite') as NodeSqliteModule
    // `columns()` (Node 22.16) is how the adapter tells a reader from a writer.
    return typeof sqlite.StatementSync?.prototype?.columns === 'function' ? sqlite : undefined
  } catch {
    return undefined
  }
}

/** Rows as plain objects, as better-sqlite3 returns them (`node:sqlite` gives null prototypes). */
function toPlainRow(row: unknown): unknown {
  return row !== null && typeof row === 'object' ? { ...row } : row
}

/** Wraps a `node:sqlite` statement in the array-of-parameters shape Kysely calls. */
function adaptStatement(statement: NodeSqliteStatement): SqliteStatement {
  return {
    reader: statement.columns().length > 0,
    all: (parameters) => statement.all(...parameters).map(toPlainRow),
    run: (parameters) => statement.run(...parameters),
    *iterate(parameters) {
      for (const row of statement.iterate(...parameters)) yield toPlainRow(row)
    },
  }
}

/** A {@link SqliteConstructor} over the built-in `node:sqlite`. */
function nodeSqliteConstructor(sqlite: NodeSqliteModule): SqliteConstructor {
  return class NodeSqliteConnection implements SqliteConnection {
    readonly #database: NodeSqliteDatabase
    constructor(path: string) {
      this.#database = new sqlite.DatabaseSync(path)
    }
    prepare(sql: string): SqliteStatement {
      return adaptStatement(this.#database.prepare(sql))
    }
    pragma(source: string): unknown {
      return this.#database.prepare(`PRAGMA ${source}`).all()
    }
    close(): void {
      this.#database.close()
    }
  }
}

/** better-sqlite3, or an error naming the package and the alternatives when it is missing. */
function requireBetterSqlite(): SqliteConstructor {
  try {
    return require('better-sqlite3') as SqliteConstructor
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error
    throw new Error(
      `the SQLite store needs better-sqlite3 on Node ${process.versions.node}: run \`npm install better-sqlite3@12\`, ` +
        'or use Node 22.16 or later (built-in node:sqlite), or set DATABASE_URL for PostgreSQL',
      { cause: error },
    )
  }
}

/** The engine {@link loadSqliteDriver} picks on this Node. */
export function sqliteEngine(): SqliteEngine {
  return findNodeSqlite() === undefined ? 'better-sqlite3' : 'node:sqlite'
}

/**
 * The SQLite `Database` constructor for this Node: the built-in `node:sqlite` where it is usable,
 * else better-sqlite3 (an optional peer dependency for Node 20). Throws, naming what to install,
 * when neither is there.
 *
 * @example
 * ```ts
 * const SQLite = loadSqliteDriver()
 * const database = new SQLite('./data/keybound-as.sqlite')
 * ```
 */
export function loadSqliteDriver(): SqliteConstructor {
  const sqlite = findNodeSqlite()
  return sqlite === undefined ? requireBetterSqlite() : nodeSqliteConstructor(sqlite)
}
