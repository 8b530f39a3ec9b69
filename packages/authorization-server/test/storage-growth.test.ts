/**
 * Storage stays bounded under abuse and over time (issue 16, item 4), on SQLite and PostgreSQL:
 * `/authorize` is rate-limited per address, every stored authorization parameter has a bounded
 * length (`invalid_request` beyond it), and the sweep deletes every kind of expired row, one
 * instance at a time, in bounded batches, never a row that is still valid.
 */
import * as jose from 'jose'
import { sql, type Kysely } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_PARAMETER_LENGTHS } from '../src/grants/authorization-request.js'
import { resolveConfig } from '../src/index.js'
import { EXPIRING_TABLES, openDatabase, type Database } from '../src/storage/database.js'
import { startSweeper } from '../src/storage/sweep.js'
import { authorizationQuery, configIssues, startInstances, type Instances } from './instances.js'
import {
  authorize,
  basic,
  clientSigningKey,
  codeForm,
  DATABASES,
  Dpop,
  freshStorage,
  pkce,
  postForm,
  pushRequest,
  REDIRECT,
  type DatabaseKind,
} from './support.js'

const AUTHORIZE_LIMIT = 20
const INTERACTION_LIFETIME = 600
const GRACE = 60

// A sign-in request of the first-party public client (no consent page).
const publicAppQuery = (extra: Record<string, string> = {}) =>
  authorizationQuery('public-app', extra)

async function countRows(db: Kysely<Database>, table: string): Promise<number> {
  const { rows } = await sql<{
    n: number | string
  }>`select count(*) as n from ${sql.table(table)}`.execute(db)
  return Number(rows[0]!.n)
}

async function countAll(db: Kysely<Database>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of EXPIRING_TABLES) counts[table] = await countRows(db, table)
  return counts
}

describe.each(DATABASES)('storage stays bounded on %s', (kind) => {
  let instances: Instances
  let db: Kysely<Database>
  const server = (i: number) => instances.servers[i]!

  beforeAll(async () => {
    instances = await startInstances(kind, 2, {
      rateLimits: { authorize: { max: AUTHORIZE_LIMIT, windowSeconds: 60 } },
      refreshTokens: { lifetime: 600, absoluteLifetime: 600 },
    })
    db = (await openDatabase(instances.storage as never)).db
  })
  afterAll(async () => {
    await db?.destroy()
    await instances?.close()
  })

  it('refuses an over-long authorization parameter with invalid_request and stores nothing', async () => {
    const before = await countRows(db, 'kb_authorization_requests')
    const issuer = server(1).url('')
    for (const name of ['state', 'nonce', 'scope', 'resource'] as const) {
      const max = MAX_PARAMETER_LENGTHS[name]
      const result = await authorize(issuer, publicAppQuery({ [name]: 'a'.repeat(max + 1) }))
      expect(result.status, name).toBe(303)
      expect(result.location?.searchParams.get('error')).toBe('invalid_request')
      expect(result.location?.searchParams.get('error_description')).toBe(
        `"${name}" must be at most ${max} characters`,
      )
    }
    // An over-long redirect_uri is shown, never redirected to.
    const longRedirect = await authorize(
      issuer,
      publicAppQuery({ redirect_uri: `${REDIRECT}?${'a'.repeat(2100)}` }),
    )
    expect(longRedirect.status).toBe(400)
    expect(longRedirect.page).toContain('&#34;redirect_uri&#34; must be at most 2048 characters')
    const pushed = await pushRequest(server(1).url('/par'), 'public-app', {
      state: 'a'.repeat(MAX_PARAMETER_LENGTHS.state + 1),
    })
    expect([pushed.answer.status, pushed.answer.body]).toEqual([
      400,
      { error: 'invalid_request', error_description: '"state" must be at most 1024 characters' },
    ])
    expect(await countRows(db, 'kb_authorization_requests')).toBe(before)
    // At the bound the request goes through.
    const start = await fetch(
      `${issuer}/authorize?${new URLSearchParams(publicAppQuery({ state: 's'.repeat(1024) }))}`,
    )
    expect(start.status).toBe(200)
    expect(await countRows(db, 'kb_authorization_requests')).toBe(before + 1)
  })

  it('the sweep keeps every valid row, then deletes every kind of expired row', async () => {
    const dpop = await Dpop.create()
    const issuer = server(1).url('')
    const tokenUrl = server(1).url('/token')
    // A code exchanged for tokens, one left unused, a sign-in left open, a pushed request, a
    // used request object, an opaque token and a revoked JWT.
    const { verifier, challenge } = pkce()
    const signedIn = await authorize(
      issuer,
      authorizationQuery('confidential-app', { code_challenge: challenge }),
    )
    const tokens = await dpop.post(
      tokenUrl,
      codeForm('confidential-app', signedIn.code!, verifier),
      basic('confidential-app'),
    )
    expect(tokens.status, tokens.text).toBe(200)
    expect((await authorize(issuer, publicAppQuery())).code).toBeDefined()
    expect(
      (await fetch(`${issuer}/authorize?${new URLSearchParams(publicAppQuery())}`)).status,
    ).toBe(200)
    expect((await pushRequest(server(1).url('/par'), 'public-app')).answer.status).toBe(201)
    const nowSeconds = Math.floor(instances.clock.now() / 1000)
    const requestObject = await new jose.SignJWT(authorizationQuery('jar-app', { jti: 'sweep-me' }))
      .setProtectedHeader({ alg: 'ES256', kid: 'client-key-1' })
      .setIssuer('jar-app')
      .setAudience(issuer)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + 300)
      .sign(clientSigningKey.privateKey)
    expect(
      (await postForm(server(1).url('/par'), { client_id: 'jar-app', request: requestObject }))
        .status,
    ).toBe(201)
    const opaque = await dpop.post(
      tokenUrl,
      { grant_type: 'client_credentials' },
      basic('opaque-service'),
    )
    const jwt = await dpop.post(tokenUrl, { grant_type: 'client_credentials' }, basic('service'))
    await postForm(server(1).url('/revoke'), { token: jwt.body.access_token }, basic('service'))

    const counts = await countAll(db)
    for (const table of EXPIRING_TABLES) expect(counts[table], table).toBeGreaterThan(0)
    // Nothing has expired: a sweep deletes nothing, and the tokens still work.
    const first = await server(0).server.sweepExpiredRows()
    const second = await server(1).server.sweepExpiredRows()
    expect([first.swept, second.swept].filter(Boolean)).toHaveLength(1)
    expect(Object.values(first.swept ? first.deleted : second.deleted).every((n) => n === 0)).toBe(
      true,
    )
    expect(await countAll(db)).toEqual(counts)
    const introspected = await postForm(
      server(1).url('/introspect'),
      { token: opaque.body.access_token },
      basic('opaque-service'),
    )
    expect(introspected.body.active).toBe(true)
    const refreshed = await dpop.post(
      tokenUrl,
      { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token },
      basic('confidential-app'),
    )
    expect(refreshed.status, refreshed.text).toBe(200)

    // Past every lifetime (the longest here: refresh tokens and sign-ins, 600 s) and the grace.
    instances.clock.advance(600 + GRACE + 1)
    const holder = first.swept ? server(0) : server(1)
    const report = await holder.server.sweepExpiredRows()
    expect(report.swept).toBe(true)
    expect(await countAll(db)).toEqual(
      Object.fromEntries(EXPIRING_TABLES.map((table) => [table, 0])),
    )
    for (const table of EXPIRING_TABLES) expect(report.deleted[table], table).toBeGreaterThan(0)
  })

  it('a flood of /authorize is rate-limited per address and leaves a bounded database', async () => {
    const state = 's'.repeat(MAX_PARAMETER_LENGTHS.state)
    const url = `${server(0).url('/authorize')}?${new URLSearchParams(publicAppQuery({ state }))}`
    const pages: number[] = []
    for (let round = 0; round < 3; round++) {
      instances.clock.advance(61) // a new rate-limit window
      const statuses: number[] = []
      for (let i = 0; i < 3 * AUTHORIZE_LIMIT; i++) {
        const response = await fetch(url)
        statuses.push(response.status)
        if (response.status === 429)
          expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
        await response.arrayBuffer()
      }
      expect(statuses.filter((status) => status === 200)).toHaveLength(AUTHORIZE_LIMIT)
      expect(statuses.filter((status) => status === 429)).toHaveLength(2 * AUTHORIZE_LIMIT)
      // Rows: one per accepted request, each of bounded size.
      expect(await countRows(db, 'kb_authorization_requests')).toBe(AUTHORIZE_LIMIT)
      const { rows } = await sql<{
        longest: number
      }>`select max(length(parameters)) as longest from kb_authorization_requests`.execute(db)
      expect(Number(rows[0]!.longest)).toBeLessThan(2 * MAX_PARAMETER_LENGTHS.state)
      if (kind === 'sqlite') {
        const { rows: size } = await sql<{ page_count: number }>`pragma page_count`.execute(db)
        pages.push(Number(size[0]!.page_count))
      }
      // The sign-ins expire, and the sweep takes them away.
      instances.clock.advance(INTERACTION_LIFETIME + GRACE + 1)
      const swept = [
        await server(0).server.sweepExpiredRows(),
        await server(1).server.sweepExpiredRows(),
      ]
      const deleted = swept.find((report) => report.swept)?.deleted
      expect(deleted?.kb_authorization_requests).toBe(AUTHORIZE_LIMIT)
      expect(await countRows(db, 'kb_authorization_requests')).toBe(0)
    }
    if (kind === 'sqlite') console.info(`SQLite pages after each flood: ${pages.join(', ')}`)
    // SQLite reuses the freed pages: the file does not grow from round to round.
    if (kind === 'sqlite') expect(pages[2]).toBeLessThanOrEqual(pages[0]! + 2)
  })

  it('one instance sweeps at a time; a holder that stops renewing loses the lease', async () => {
    const reports = await Promise.all([
      server(0).server.sweepExpiredRows(),
      server(1).server.sweepExpiredRows(),
    ])
    expect(reports.filter((report) => report.swept)).toHaveLength(1)
    const holder = reports[0]!.swept ? 0 : 1
    const other = 1 - holder
    expect((await server(other).server.sweepExpiredRows()).swept).toBe(false)
    expect((await server(holder).server.sweepExpiredRows()).swept).toBe(true)
    // The holder goes quiet (as if it crashed): after its lease runs out, the other takes over.
    instances.clock.advance(61)
    expect((await server(other).server.sweepExpiredRows()).swept).toBe(true)
    expect((await server(holder).server.sweepExpiredRows()).swept).toBe(false)
  })
})

describe('storage.sweep settings', () => {
  it('has defaults and names every bad field', () => {
    expect(resolveConfig({}).storage.sweep).toEqual({
      intervalSeconds: 60,
      batchSize: 500,
      graceSeconds: 60,
    })
    const sweep = { intervalSeconds: -1, batchSize: 0, graceSeconds: 'x', every: 5 }
    expect(configIssues({ storage: { sweep } })).toEqual([
      'storage.sweep.every: is not a known setting',
      'storage.sweep.intervalSeconds: must be a whole number from 0 to 86400',
      'storage.sweep.batchSize: must be a whole number from 1 to 100000',
      'storage.sweep.graceSeconds: must be a whole number from 0 to 86400',
    ])
  })
})

describe.each(DATABASES)('a sweep cut short on %s', (kind: DatabaseKind) => {
  it('deletes only expired rows, in bounded batches, and the next sweep finishes', async () => {
    const { storage, cleanup } = await freshStorage(kind)
    const { db } = await openDatabase(storage as never)
    try {
      const now = Math.floor(Date.now() / 1000)
      const rows = [
        ...Array.from({ length: 23 }, (_, i) => ({
          jti: `expired-${i}`,
          expires_at: now - 120 - i,
        })),
        ...Array.from({ length: 7 }, (_, i) => ({ jti: `valid-${i}`, expires_at: now + 60 + i })),
        // Expired, but within the grace: kept for a slower clock at another instance.
        { jti: 'just-expired', expires_at: now - 10 },
      ]
      await db.insertInto('kb_revoked_jtis').values(rows).execute()
      const sweeper = startSweeper({
        db,
        settings: { intervalSeconds: 0, batchSize: 5, graceSeconds: GRACE },
        now: Date.now,
        onError: (error) => {
          throw error
        },
      })
      // One batch per table, as if the process died after its first statement.
      const partial = await sweeper.sweep({ maxBatchesPerTable: 1 })
      expect(partial).toMatchObject({ swept: true, deleted: { kb_revoked_jtis: 5 } })
      expect(await countRows(db, 'kb_revoked_jtis')).toBe(31 - 5)
      const rest = await sweeper.sweep()
      expect(rest.deleted.kb_revoked_jtis).toBe(18)
      const left = await db.selectFrom('kb_revoked_jtis').select('jti').orderBy('jti').execute()
      expect(left.map((row) => row.jti)).toEqual([
        'just-expired',
        ...Array.from({ length: 7 }, (_, i) => `valid-${i}`),
      ])
      await sweeper.stop()
    } finally {
      await db.destroy()
      await cleanup()
    }
  })

  it('runs every intervalSeconds without being asked', async () => {
    const { storage, cleanup } = await freshStorage(kind)
    const { db } = await openDatabase(storage as never)
    const sweeper = startSweeper({
      db,
      settings: { intervalSeconds: 1, batchSize: 500, graceSeconds: 0 },
      now: Date.now,
      onError: () => {},
    })
    try {
      const now = Math.floor(Date.now() / 1000)
      await db
        .insertInto('kb_revoked_jtis')
        .values([
          { jti: 'old', expires_at: now - 5 },
          { jti: 'live', expires_at: now + 3600 },
        ])
        .execute()
      await expect.poll(() => countRows(db, 'kb_revoked_jtis')).toBe(1)
    } finally {
      await sweeper.stop()
      await db.destroy()
      await cleanup()
    }
  })
})
