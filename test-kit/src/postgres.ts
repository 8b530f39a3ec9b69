/**
 * Test helpers for PostgreSQL: the shared server from `DATABASE_URL` (required: CI provides it,
 * and a PostgreSQL run that silently skipped would prove nothing), and a scratch schema per test
 * server, so that test files and parallel runs never see each other's rows.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** `DATABASE_URL`, or a loud failure naming the suite that needs it. */
export function requireDatabaseUrl(suite: string): string {
  const url = process.env.DATABASE_URL
  if (url === undefined || url === '')
    throw new Error(`DATABASE_URL is not set: ${suite} cannot be skipped`)
  return url
}

/** A schema name no other run uses; the server under test creates it when it migrates. */
export interface ScratchSchema {
  databaseUrl: string
  schema: string
  /** Drops the schema and everything in it. */
  drop(): Promise<void>
}

/** Reserves a fresh schema name on `DATABASE_URL` (`kb_test_<12 hex digits>`). */
export function scratchSchema(suite: string): ScratchSchema {
  const databaseUrl = requireDatabaseUrl(suite)
  // Random hex only: the name goes into SQL unquoted, so nothing else may ever reach it.
  const schema = `kb_test_${randomBytes(6).toString('hex')}`
  return {
    databaseUrl,
    schema,
    drop: async () => {
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      try {
        await client.query(`drop schema if exists ${schema} cascade`)
      } finally {
        await client.end()
      }
    },
  }
}
