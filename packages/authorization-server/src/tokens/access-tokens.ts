/**
 * Access tokens (RFC 9068 JWTs with `cnf.jkt`, or opaque handles) and refresh tokens (opaque,
 * stored by hash, rotated on every use, a reused one revokes its family).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Client } from '../clients/registry.js'
import type { ResourceConfig } from '../config.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { verifyAccessTokenJwt } from '../jwt/verify-access-token.js'
import { signJwt } from '../keys/signing-keys.js'
import {
  findAccessTokenByHash,
  insertAccessToken,
  isJtiDenied,
  revokeAccessTokensOf,
} from '../storage/access-tokens.js'
import type { Database, RefreshTokensTable } from '../storage/database.js'
import { lockLiveGrant as lockGrantRow, markGrantRevoked } from '../storage/grants.js'
import {
  findRefreshTokenByHash,
  insertRefreshTokenRow,
  listFamiliesOfGrant,
  revokeRefreshFamily,
} from '../storage/refresh-tokens.js'
import { inTransaction } from '../storage/transaction.js'

/** What an access token is about. */
export interface AccessTokenClaims {
  client: Client
  subject: string
  scope: string
  /** Thumbprint of the DPoP key; `undefined` issues a Bearer token. */
  jkt: string | undefined
  /** The refresh-token family, so that revoking it also revokes the access tokens. */
  familyId?: string
  /** The grant (authorization code) behind the token, so that revoking it revokes the token. */
  grantId?: string
  /** The API named with `resource` (RFC 8707): the token's `aud` and, when set, its format. */
  resource?: ResourceConfig
}

/** An issued access token. */
export interface IssuedAccessToken {
  access_token: string
  token_type: 'DPoP' | 'Bearer'
  expires_in: number
}

/** Opaque access tokens start with this, so introspection can tell them from refresh tokens. */
const OPAQUE_PREFIX = 'kbat_'
const REFRESH_PREFIX = 'kbrt_'

/**
 * Issues an access token: an RFC 9068 JWT (`typ: at+jwt`, `iss`, `aud`, `sub`, `client_id`,
 * `iat`, `exp`, `jti`, `scope`, `cnf.jkt`) or an opaque token stored by hash.
 * @example
 * ```ts
 * const token = await issueAccessToken(ctx, ctx.db, { client, subject: client.client_id, scope, jkt: proof.jkt })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.1
 */
export async function issueAccessToken(
  ctx: ServerContext,
  db: Kysely<Database>,
  claims: AccessTokenClaims,
): Promise<IssuedAccessToken> {
  const { config } = ctx
  const lifetime = config.accessTokens.lifetime
  const iat = epochSeconds(ctx.now())
  const jti = randomHandle(16)
  const audience =
    claims.resource?.identifier ??
    claims.client.audience ??
    config.accessTokens.audience ??
    ctx.urls().issuer
  const tokenType = claims.jkt === undefined ? 'Bearer' : 'DPoP'
  const format =
    claims.resource?.accessTokenFormat ??
    claims.client.access_token_format ??
    config.accessTokens.format
  const record = (token: string) =>
    insertAccessToken(db, {
      token_hash: hashHandle(token),
      jti,
      family_id: claims.familyId ?? null,
      grant_id: claims.grantId ?? null,
      format,
      client_id: claims.client.client_id,
      subject: claims.subject,
      scope: claims.scope,
      audience,
      jkt: claims.jkt ?? null,
      issued_at: iat,
      expires_at: iat + lifetime,
      revoked_at: null,
    })
  if (format === 'opaque') {
    const token = `${OPAQUE_PREFIX}${randomHandle()}`
    await record(token)
    return { access_token: token, token_type: tokenType, expires_in: lifetime }
  }
  const payload: Record<string, unknown> = {
    iss: ctx.urls().issuer,
    sub: claims.subject,
    aud: audience,
    client_id: claims.client.client_id,
    iat,
    exp: iat + lifetime,
    jti,
  }
  if (claims.scope !== '') payload.scope = claims.scope
  if (claims.jkt !== undefined) payload.cnf = { jkt: claims.jkt }
  const token = await signJwt(ctx.keys().active, 'at+jwt', payload)
  // A JWT of a grant is recorded so that revoking the grant or family can deny-list its jti.
  if (claims.grantId !== undefined || claims.familyId !== undefined) await record(token)
  return { access_token: token, token_type: tokenType, expires_in: lifetime }
}

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

/** What introspection knows about a token (RFC 7662 §2.2 members). */
export interface TokenInfo {
  kind: 'access_token' | 'refresh_token'
  client_id: string
  sub: string
  scope: string
  aud?: string
  iat?: number
  exp: number
  jti?: string
  jkt?: string | undefined
  familyId?: string
}

async function inspectJwt(
  ctx: ServerContext,
  token: string,
  now: number,
): Promise<TokenInfo | undefined> {
  const claims = verifyAccessTokenJwt(token, {
    keys: ctx.keys().published,
    issuer: ctx.urls().issuer,
    now,
  })
  if (claims === undefined) return undefined
  if (await isJtiDenied(ctx.db, String(claims.jti))) return undefined
  const cnf = claims.cnf as { jkt?: string } | undefined
  return {
    kind: 'access_token',
    client_id: String(claims.client_id),
    sub: String(claims.sub),
    scope: typeof claims.scope === 'string' ? claims.scope : '',
    aud: String(claims.aud),
    iat: Number(claims.iat),
    exp: claims.exp,
    jti: String(claims.jti),
    jkt: cnf?.jkt,
  }
}

/**
 * Looks a token up for introspection or revocation: a JWT access token (signature, issuer,
 * expiry, revocation list), an opaque access token, or a refresh token. Returns `undefined` for
 * anything that is not an active token of this server.
 * @example
 * ```ts
 * const info = await inspectToken(ctx, params.token)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
export async function inspectToken(
  ctx: ServerContext,
  token: string,
): Promise<TokenInfo | undefined> {
  const now = epochSeconds(ctx.now())
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token))
    return inspectJwt(ctx, token, now)
  if (token.startsWith(OPAQUE_PREFIX)) {
    const row = await findAccessTokenByHash(ctx.db, hashHandle(token))
    if (row === undefined || row.revoked_at !== null || row.expires_at <= now) return undefined
    return {
      kind: 'access_token',
      client_id: row.client_id,
      sub: row.subject,
      scope: row.scope,
      aud: row.audience,
      iat: row.issued_at,
      exp: row.expires_at,
      jti: row.jti,
      jkt: row.jkt ?? undefined,
      ...(row.family_id === null ? {} : { familyId: row.family_id }),
    }
  }
  const row = await findRefreshToken(ctx.db, token)
  if (
    row === undefined ||
    row.revoked_at !== null ||
    row.rotated_at !== null ||
    row.expires_at <= now
  )
    return undefined
  return {
    kind: 'refresh_token',
    client_id: row.client_id,
    sub: row.subject,
    scope: row.scope,
    iat: row.created_at,
    exp: row.expires_at,
    jkt: row.jkt ?? undefined,
    familyId: row.family_id,
  }
}
