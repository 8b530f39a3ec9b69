// A project that installed the authorization server alone (no redis, no better-sqlite3): what
// needs an optional peer says which package to install, and SQLite works where Node has
// node:sqlite built in.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthorizationServer } from '@keybound/authorization-server'
import { createRedisReplayStore } from '@keybound/server/redis'
import { check, expect, finish } from './lib.mjs'

const messages = (error) => {
  const all = []
  for (let current = error; current instanceof Error; current = current.cause)
    all.push(current.message)
  return all.join(' / ')
}

await check(
  'missing peers: @keybound/server/redis without redis names `npm install redis@5`',
  async () => {
    let error
    try {
      createRedisReplayStore({ url: 'redis://127.0.0.1:6379' })
    } catch (caught) {
      error = caught
    }
    expect(error?.code === 'ERR_DPOP_INVALID_ARGUMENT', `error code ${error?.code}`)
    expect(/npm install redis@5/.test(error.message), `message: ${error?.message}`)
  },
)

const dataDir = await mkdtemp(join(tmpdir(), 'kb-install-light-'))
let builtIn = false
try {
  builtIn =
    typeof process.getBuiltinModule?.('node:sqlite')?.StatementSync?.prototype?.columns ===
    'function'
} catch {
  builtIn = false
}

/**
 * Storage that opens on this Node without optional peers: SQLite where node:sqlite is built in,
 * else a throwaway PostgreSQL schema (dropped with the AS's own pg).
 */
async function storageWithoutPeers(name) {
  if (builtIn) return { storage: { dataDir: join(dataDir, name) }, drop: async () => {} }
  const schema = `kb_install_${randomBytes(6).toString('hex')}`
  const pg = createRequire(import.meta.resolve('@keybound/authorization-server'))('pg')
  return {
    storage: { dataDir, databaseUrl: process.env.DATABASE_URL, schema },
    drop: async () => {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
      await client.connect()
      await client.query(`drop schema if exists ${schema} cascade`).finally(() => client.end())
    },
  }
}

try {
  await check(
    'missing peers: the AS with REDIS_URL and without redis names the package',
    async () => {
      const { storage, drop } = await storageWithoutPeers('redis')
      const started = await createAuthorizationServer(
        { storage, replay: { redisUrl: 'redis://127.0.0.1:6379' } },
        { env: {}, logger: false },
      )
        .then(
          async (server) => {
            await server.close()
            return undefined
          },
          (error) => error,
        )
        .finally(drop)
      expect(started !== undefined, 'the server started without redis')
      expect(/npm install redis@5/.test(messages(started)), `message: ${messages(started)}`)
    },
  )

  if (builtIn) {
    await check(
      `light AS: SQLite on Node ${process.versions.node} runs on node:sqlite`,
      async () => {
        const server = await createAuthorizationServer(
          { storage: { dataDir: join(dataDir, 'sqlite') } },
          { env: {}, logger: false },
        )
        try {
          const issuer = await server.listen({ port: 0, host: '127.0.0.1' })
          const response = await fetch(`${issuer}/.well-known/oauth-authorization-server`)
          expect(response.status === 200, `metadata status ${response.status}`)
        } finally {
          await server.close()
        }
      },
    )
  } else {
    await check(
      `light AS: SQLite on Node ${process.versions.node} asks for better-sqlite3`,
      async () => {
        const error = await createAuthorizationServer(
          { storage: { dataDir: join(dataDir, 'sqlite') } },
          { env: {}, logger: false },
        ).then(
          async (server) => {
            await server.close()
            return undefined
          },
          (caught) => caught,
        )
        expect(error !== undefined, 'the server started without an SQLite engine')
        expect(/npm install better-sqlite3@12/.test(messages(error)), `message: ${messages(error)}`)
      },
    )
  }
} finally {
  await rm(dataDir, { recursive: true, force: true })
}

finish()
