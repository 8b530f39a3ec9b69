/**
 * Refresh tokens (opaque, stored by hash, rotated on every use) and the revocations that
 * follow from them: a reused refresh token revokes its family, a reused code its whole grant.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Client } from '../clients/registry.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { revokeAccessTokensOf } from '../storage/access-tokens.js'
import type { Database, RefreshTokensTable } from '../storage/database.js'
import { lockLiveGrant as lockGrantRow, markGrantRevoked } from '../storage/grants.js'
import {
  findRefreshTokenByHash,
  insertRefreshTokenRow,
  listFamiliesOfGrant,
  revokeRefreshFamily,
} from '../storage/refresh-tokens.js'
import { inTransaction } from '../storage/transaction.js'

const REFRESH_PREFIX = 'kbrt_'

/** A refresh token to store. */
export interface NewRefreshToken {
  familyId: string
  grantId: string
  client: Client
  subject: string
  scope: string
  resource: string | null
  jkt: string | null
  familyExpiresAt: number
}

/**
 * Creates and stores a refresh token inside the caller's transaction; returns the token text.
 * @example
 * ```ts
 * const refresh_token = await insertRefreshToken(ctx, trx, { familyId, grantId, client, subject, scope, resource: null, jkt, familyExpiresAt })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function insertRefreshToken(
  ctx: ServerContext,
  trx: Kysely<Database>,
  token: NewRefreshToken,
): Promise<string> {
  const now = epochSeconds(ctx.now())
  const value = `${REFRESH_PREFIX}${randomHandle()}`
  await insertRefreshTokenRow(trx, {
    token_hash: hashHandle(value),
    family_id: token.familyId,
    grant_id: token.grantId,
    client_id: token.client.client_id,
    subject: token.subject,
    scope: token.scope,
    resource: token.resource,
    jkt: token.jkt,
    created_at: now,
    expires_at: Math.min(now + ctx.config.refreshTokens.lifetime, token.familyExpiresAt),
    family_expires_at: token.familyExpiresAt,
    rotated_at: null,
    revoked_at: null,
  })
  return value
}

/**
 * Revokes a refresh-token family and the access tokens issued from it (reuse detection,
 * RFC 9700 §4.14.2; revocation, RFC 7009 §2.1).
 * @example
 * ```ts
 * await revokeFamily(ctx, ctx.db, row.family_id)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export async function revokeFamily(
  ctx: ServerContext,
  db: Kysely<Database>,
  familyId: string,
): Promise<void> {
  const now = epochSeconds(ctx.now())
  await revokeRefreshFamily(db, familyId, now)
  await revokeAccessTokensOf(db, 'family_id', familyId, now)
}

/**
 * Revokes every token of a grant (authorization-code reuse, RFC 6749 §4.1.2): its refresh
 * tokens, its opaque access tokens, and its JWT access tokens by deny-listing their `jti`s.
 * The grant row is updated first: a refresh of the same grant locks it first as well (see
 * {@link lockLiveGrant}), so the two run one after the other and nothing is issued after this.
 * @example
 * ```ts
 * await revokeGrant(ctx, ctx.db, code.grant_id)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function revokeGrant(
  ctx: ServerContext,
  db: Kysely<Database>,
  grantId: string,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    const now = epochSeconds(ctx.now())
    await markGrantRevoked(trx, grantId, now)
    for (const familyId of await listFamiliesOfGrant(trx, grantId))
      await revokeFamily(ctx, trx, familyId)
    await revokeAccessTokensOf(trx, 'grant_id', grantId, now)
  })
}

/**
 * Inside a token transaction: checks that a grant is not revoked and, on PostgreSQL, holds a
 * share lock on it until the transaction ends, so a concurrent {@link revokeGrant} waits for
 * the new tokens (and revokes them) or goes first (and this check fails). SQLite runs one
 * writer at a time, so the check alone is enough there.
 * @example
 * ```ts
 * if (!(await lockLiveGrant(ctx, trx, row.grant_id))) throw new OAuthError('invalid_grant', '…')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function lockLiveGrant(
  ctx: ServerContext,
  trx: Kysely<Database>,
  grantId: string,
): Promise<boolean> {
  return lockGrantRow(trx, ctx.dialect, grantId)
}

/**
 * Finds a refresh token by its text (any state); `undefined` when unknown.
 * @example
 * ```ts
 * const row = await findRefreshToken(ctx.db, params.refresh_token)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function findRefreshToken(
  db: Kysely<Database>,
  token: string,
): Promise<RefreshTokensTable | undefined> {
  if (!token.startsWith(REFRESH_PREFIX)) return undefined
  return findRefreshTokenByHash(db, hashHandle(token))
}
