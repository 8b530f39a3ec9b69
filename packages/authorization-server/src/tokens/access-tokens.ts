/**
 * Access tokens: RFC 9068 JWTs with `cnf.jkt`, or opaque handles stored by hash, with the
 * audience and format of the resource, client or server settings.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { Client } from '../clients/registry.js'
import type { ResourceConfig } from '../config.js'
import type { ServerContext } from '../context.js'
import { signJwt } from '../keys/signing-keys.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { insertAccessToken } from '../storage/access-tokens.js'
import type { Database } from '../storage/database.js'

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
export const OPAQUE_PREFIX = 'kbat_'

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
