/**
 * Token introspection's view of any token this server issued: a JWT access token (signature,
 * issuer, expiry, deny list), an opaque access token or a refresh token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 * @packageDocumentation
 */
import type { ServerContext } from '../context.js'
import { verifyAccessTokenJwt } from '../jwt/verify-access-token.js'
import { epochSeconds, hashHandle } from '../lib/crypto.js'
import { findAccessTokenByHash, isJtiDenied } from '../storage/access-tokens.js'
import { OPAQUE_PREFIX } from './access-tokens.js'
import { findRefreshToken } from './refresh-tokens.js'

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
