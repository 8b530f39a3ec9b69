/**
 * The storage repositories of the authorization server, each run once on SQLite (a temporary
 * file) and once on PostgreSQL (`DATABASE_URL`, a schema of its own), against the real
 * migrated schema. The one-time claims (code, refresh token, interaction, pushed request,
 * request object) must
 * succeed exactly once on both databases: the token endpoint's reuse detection rests on them.
 */
import type { Kysely } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  denyJti,
  findAccessTokenByHash,
  insertAccessToken,
  isJtiDenied,
  revokeAccessTokenByHash,
  revokeAccessTokensOf,
} from '../../src/storage/access-tokens.js'
import {
  findClientRow,
  insertRegisteredClient,
  replaceConfigClients,
} from '../../src/storage/clients.js'
import { consumeCode, findCode, insertCode } from '../../src/storage/codes.js'
import { openDatabase, pingDatabase, type Database } from '../../src/storage/database.js'
import {
  insertGrant,
  listLiveGrantScopes,
  lockLiveGrant,
  markGrantRevoked,
} from '../../src/storage/grants.js'
import {
  claimInteraction,
  closeInteraction,
  findInteraction,
  saveInteraction,
  setInteractionSubject,
} from '../../src/storage/interactions.js'
import { savePushedRequest, takePushedRequest } from '../../src/storage/pushed-requests.js'
import {
  findRefreshTokenByHash,
  insertRefreshTokenRow,
  isRefreshTokenLive,
  listFamiliesOfGrant,
  revokeRefreshFamily,
  rotateRefreshToken,
} from '../../src/storage/refresh-tokens.js'
import { claimRequestObject } from '../../src/storage/request-objects.js'
import {
  deleteSetting,
  findOrCreateSetting,
  findSetting,
  replaceSetting,
} from '../../src/storage/settings.js'
import {
  insertSigningKey,
  listPublishedSigningKeys,
  retireSigningKeys,
} from '../../src/storage/signing-keys.js'
import { inTransaction } from '../../src/storage/transaction.js'
import { findUser, replacePasswordHash, replaceUsers } from '../../src/storage/users.js'
import { DATABASES, freshStorage } from '../support.js'

const NOW = 1_900_000_000

function accessTokenRow(tokenHash: string, jti: string, by: { family?: string; grant?: string }) {
  return {
    token_hash: tokenHash,
    jti,
    family_id: by.family ?? null,
    grant_id: by.grant ?? null,
    format: 'jwt',
    client_id: 'app',
    subject: 'alice',
    scope: 'read',
    audience: 'https://api.example',
    jkt: null,
    issued_at: NOW,
    expires_at: NOW + 300,
    revoked_at: null,
  }
}

function clientRow(clientId: string, source: 'config' | 'dynamic') {
  return {
    client_id: clientId,
    metadata: JSON.stringify({ client_id: clientId }),
    secret_hash: null,
    source,
    created_at: NOW,
  }
}

function refreshTokenRow(tokenHash: string, familyId: string, grantId: string) {
  return {
    token_hash: tokenHash,
    family_id: familyId,
    grant_id: grantId,
    client_id: 'app',
    subject: 'alice',
    scope: 'read',
    resource: null,
    jkt: null,
    created_at: NOW,
    expires_at: NOW + 3600,
    family_expires_at: NOW + 86_400,
    rotated_at: null,
    revoked_at: null,
  }
}

describe.each(DATABASES)('storage repositories on %s (D43)', (kind) => {
  let db: Kysely<Database>
  let dialect: 'sqlite' | 'postgres'
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    const fresh = await freshStorage(kind)
    cleanup = fresh.cleanup
    const opened = await openDatabase(
      fresh.storage as { dataDir: string; databaseUrl?: string; schema?: string },
    )
    db = opened.db
    dialect = opened.dialect
  })

  afterAll(async () => {
    await db?.destroy()
    await cleanup?.()
  })

  it('interactions: saved, found by hash, given a subject, claimed once, closed', async () => {
    await saveInteraction(db, {
      requestHash: 'i1',
      clientId: 'app',
      parameters: '{"scope":"read"}',
      browserHash: 'b1',
      expiresAt: NOW + 600,
    })
    expect(await findInteraction(db, 'i1')).toMatchObject({
      kind: 'interaction',
      client_id: 'app',
      browser_hash: 'b1',
      subject: null,
      used_at: null,
    })
    await setInteractionSubject(db, 'i1', 'alice')
    expect((await findInteraction(db, 'i1'))?.subject).toBe('alice')
    expect(await claimInteraction(db, 'i1', NOW)).toBe(true)
    expect(await claimInteraction(db, 'i1', NOW)).toBe(false)
    expect(await findInteraction(db, 'missing')).toBeUndefined()
    await saveInteraction(db, {
      requestHash: 'i2',
      clientId: 'app',
      parameters: '{}',
      browserHash: 'b1',
      expiresAt: NOW + 600,
    })
    await closeInteraction(db, 'i2', NOW)
    expect((await findInteraction(db, 'i2'))?.used_at).toBe(NOW)
  })

  it('pushed requests: taken once, by their client, before they expire; never as interactions', async () => {
    await savePushedRequest(db, {
      requestHash: 'p1',
      clientId: 'app',
      parameters: '{"scope":"read"}',
      expiresAt: NOW + 60,
    })
    expect(await findInteraction(db, 'p1')).toBeUndefined()
    expect(await takePushedRequest(db, { requestHash: 'p1', clientId: 'other', now: NOW })).toBe(
      undefined,
    )
    expect(await takePushedRequest(db, { requestHash: 'p1', clientId: 'app', now: NOW + 60 })).toBe(
      undefined,
    )
    expect(await takePushedRequest(db, { requestHash: 'p1', clientId: 'app', now: NOW })).toBe(
      '{"scope":"read"}',
    )
    expect(await takePushedRequest(db, { requestHash: 'p1', clientId: 'app', now: NOW })).toBe(
      undefined,
    )
  })

  it('grants: live scopes listed, locked while live, not after revocation', async () => {
    const grant = { client_id: 'app', subject: 'alice', created_at: NOW, revoked_at: null }
    await insertGrant(db, { ...grant, grant_id: 'g1', scope: 'read write' })
    await insertGrant(db, { ...grant, grant_id: 'g2', scope: 'admin' })
    expect((await listLiveGrantScopes(db, 'app', 'alice')).sort()).toEqual(['admin', 'read write'])
    expect(await inTransaction(db, (trx) => lockLiveGrant(trx, dialect, 'g2'))).toBe(true)
    await markGrantRevoked(db, 'g2', NOW)
    expect(await listLiveGrantScopes(db, 'app', 'alice')).toEqual(['read write'])
    expect(await inTransaction(db, (trx) => lockLiveGrant(trx, dialect, 'g2'))).toBe(false)
    expect(await listLiveGrantScopes(db, 'app', 'bob')).toEqual([])
  })

  it('codes: found by hash and consumed exactly once', async () => {
    await insertCode(db, {
      code_hash: 'c1',
      client_id: 'app',
      grant_id: 'g1',
      subject: 'alice',
      redirect_uri: 'https://app.example/cb',
      scope: 'read',
      code_challenge: 'challenge',
      dpop_jkt: null,
      resource: null,
      expires_at: NOW + 60,
      consumed_at: null,
    })
    expect(await findCode(db, 'c1')).toMatchObject({ grant_id: 'g1', consumed_at: null })
    const claims = await Promise.all([consumeCode(db, 'c1', NOW), consumeCode(db, 'c1', NOW)])
    expect(claims.filter(Boolean)).toHaveLength(1)
    expect((await findCode(db, 'c1'))?.consumed_at).toBe(NOW)
    expect(await findCode(db, 'missing')).toBeUndefined()
  })

  it('refresh tokens: rotated once, live until rotated, families revoked as one', async () => {
    await insertRefreshTokenRow(db, refreshTokenRow('r1', 'f1', 'g1'))
    await insertRefreshTokenRow(db, refreshTokenRow('r2', 'f1', 'g1'))
    await insertRefreshTokenRow(db, refreshTokenRow('r3', 'f2', 'g1'))
    expect(await findRefreshTokenByHash(db, 'r1')).toMatchObject({ family_id: 'f1' })
    expect(await isRefreshTokenLive(db, 'r1')).toBe(true)
    const claims = await Promise.all([
      rotateRefreshToken(db, 'r1', NOW),
      rotateRefreshToken(db, 'r1', NOW),
    ])
    expect(claims.filter(Boolean)).toHaveLength(1)
    expect(await isRefreshTokenLive(db, 'r1')).toBe(false)
    expect((await listFamiliesOfGrant(db, 'g1')).sort()).toEqual(['f1', 'f2'])
    await revokeRefreshFamily(db, 'f1', NOW)
    expect(await isRefreshTokenLive(db, 'r2')).toBe(false)
    expect(await rotateRefreshToken(db, 'r2', NOW)).toBe(false)
    expect(await isRefreshTokenLive(db, 'r3')).toBe(true)
  })

  it('access tokens: opaque ones revoked by row, JWTs of a family or grant by jti', async () => {
    await insertAccessToken(db, { ...accessTokenRow('a1', 'j1', {}), format: 'opaque' })
    await insertAccessToken(db, accessTokenRow('a2', 'j2', { family: 'f9' }))
    await insertAccessToken(db, accessTokenRow('a3', 'j3', { grant: 'g9' }))
    expect(await findAccessTokenByHash(db, 'a1')).toMatchObject({ jti: 'j1', revoked_at: null })
    await revokeAccessTokenByHash(db, 'a1', NOW)
    expect((await findAccessTokenByHash(db, 'a1'))?.revoked_at).toBe(NOW)
    await revokeAccessTokensOf(db, 'family_id', 'f9', NOW)
    expect(await isJtiDenied(db, 'j2')).toBe(true)
    expect(await isJtiDenied(db, 'j3')).toBe(false)
    await revokeAccessTokensOf(db, 'grant_id', 'g9', NOW)
    expect(await isJtiDenied(db, 'j3')).toBe(true)
    // Listing a jti twice (two revocations at once) is harmless.
    await Promise.all([denyJti(db, 'j4', NOW + 10), denyJti(db, 'j4', NOW + 10)])
    expect(await isJtiDenied(db, 'j4')).toBe(true)
  })

  it('signing keys: published newest first, retired until their end, then deleted', async () => {
    const key = { alg: 'ES256', private_jwk: '{}', public_jwk: '{}', retired_at: null }
    await insertSigningKey(db, { ...key, kid: 'k1', created_at: NOW, expires_at: null })
    await inTransaction(db, async (trx) => {
      await retireSigningKeys(trx, NOW + 10, 100)
      await insertSigningKey(trx, { ...key, kid: 'k2', created_at: NOW + 10, expires_at: null })
    })
    const published = await listPublishedSigningKeys(db, NOW + 10)
    expect(published.map((row) => [row.kid, row.retired_at, row.expires_at])).toEqual([
      ['k2', null, null],
      ['k1', NOW + 10, NOW + 110],
    ])
    expect((await listPublishedSigningKeys(db, NOW + 110)).map((row) => row.kid)).toEqual(['k2'])
    await retireSigningKeys(db, NOW + 200, 100)
    const remaining = await db.selectFrom('kb_signing_keys').select('kid').execute()
    expect(remaining.map((row) => row.kid)).toEqual(['k2'])
  })

  it('request objects: used once until they expire, then free again', async () => {
    const claims = await Promise.all([
      claimRequestObject(db, 'o1', NOW + 60, NOW),
      claimRequestObject(db, 'o1', NOW + 60, NOW),
    ])
    expect(claims.filter(Boolean)).toHaveLength(1)
    expect(await claimRequestObject(db, 'o1', NOW + 120, NOW + 59)).toBe(false)
    expect(await claimRequestObject(db, 'o1', NOW + 120, NOW + 61)).toBe(true)
  })

  it('users: replaced as a set, found by username, a hash replaced only while current', async () => {
    const user = { subject: 'sub', password_hash: 'hash-1', updated_at: NOW }
    await replaceUsers(db, [{ ...user, username: 'bob' }])
    await replaceUsers(db, [{ ...user, username: 'alice', subject: 'sub-alice' }])
    expect(await findUser(db, 'alice')).toMatchObject({ subject: 'sub-alice' })
    expect(await findUser(db, 'bob')).toBeUndefined()
    await replacePasswordHash(db, { username: 'alice', current: 'stale', next: 'x', now: NOW })
    expect((await findUser(db, 'alice'))?.password_hash).toBe('hash-1')
    await replacePasswordHash(db, {
      username: 'alice',
      current: 'hash-1',
      next: 'hash-2',
      now: NOW + 5,
    })
    expect(await findUser(db, 'alice')).toMatchObject({
      password_hash: 'hash-2',
      updated_at: NOW + 5,
    })
  })

  it('clients: config clients replaced as a set, registered ones kept with their registration', async () => {
    await inTransaction(db, (trx) =>
      replaceConfigClients(trx, [clientRow('old-config', 'config'), clientRow('web', 'config')]),
    )
    await inTransaction(db, (trx) =>
      insertRegisteredClient(trx, clientRow('dyn-1', 'dynamic'), {
        client_id: 'dyn-1',
        registration_token_hash: 'rat-hash',
        created_at: NOW,
      }),
    )
    await inTransaction(db, (trx) => replaceConfigClients(trx, [clientRow('web', 'config')]))
    expect(await findClientRow(db, 'old-config')).toBeUndefined()
    expect(await findClientRow(db, 'web')).toMatchObject({ source: 'config' })
    expect(await findClientRow(db, 'dyn-1')).toMatchObject({ source: 'dynamic' })
    // A config client takes its id back from a registered client that holds it.
    await inTransaction(db, (trx) => replaceConfigClients(trx, [clientRow('dyn-1', 'config')]))
    expect(await findClientRow(db, 'dyn-1')).toMatchObject({ source: 'config' })
    // The registration row is written with its client, or not at all.
    await expect(
      inTransaction(db, (trx) =>
        insertRegisteredClient(trx, clientRow('dyn-2', 'dynamic'), {
          client_id: 'dyn-1',
          registration_token_hash: 'rat-hash',
          created_at: NOW,
        }),
      ),
    ).rejects.toThrow()
    expect(await findClientRow(db, 'dyn-2')).toBeUndefined()
  })

  it('settings: created once however many ask at the same time, replaced, deleted', async () => {
    let made = 0
    const create = () => `secret-${++made}`
    const values = await Promise.all([
      findOrCreateSetting(db, 'nonce', create),
      findOrCreateSetting(db, 'nonce', create),
      findOrCreateSetting(db, 'nonce', create),
    ])
    expect(new Set(values).size).toBe(1)
    expect(await findSetting(db, 'nonce')).toBe(values[0])
    expect(await findOrCreateSetting(db, 'nonce', () => 'later')).toBe(values[0])
    await replaceSetting(db, 'nonce', 'replaced')
    expect(await findSetting(db, 'nonce')).toBe('replaced')
    await deleteSetting(db, 'nonce')
    expect(await findSetting(db, 'nonce')).toBeUndefined()
  })

  it('health: the database answers a ping', async () => {
    await expect(pingDatabase(db)).resolves.toBeUndefined()
  })

  it('transactions: a failed one leaves nothing behind', async () => {
    await expect(
      inTransaction(db, async (trx) => {
        await insertGrant(trx, {
          grant_id: 'g-rolled-back',
          client_id: 'rollback',
          subject: 'carol',
          scope: 'read',
          created_at: NOW,
          revoked_at: null,
        })
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    expect(await listLiveGrantScopes(db, 'rollback', 'carol')).toEqual([])
  })
})
