/**
 * The token endpoint (RFC 6749 §3.2) with DPoP (RFC 9449 §5): `authorization_code` with PKCE
 * and `dpop_jkt`, `refresh_token` with rotation (none for confidential clients under the FAPI 2.0
 * profile), reuse detection and the public-client key binding, `client_credentials`, and token
 * exchange (RFC 8693, in grants/token-exchange.ts). A request that is rejected changes nothing:
 * the code is consumed and the refresh token rotated only in the transaction that issues the new
 * tokens.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import type { VerifiedProof } from '@keybound/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { authenticateClient } from '../clients/authentication.js'
import type { Client } from '../clients/registry.js'
import type { ServerContext } from '../context.js'
import { checkProof, rotatedNonce } from '../http/dpop.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { grantScope, readParameters, requireParameter, type Parameters } from '../lib/form.js'
import { issueAccessToken, type IssuedAccessToken } from '../tokens/access-tokens.js'
import {
  findRefreshToken,
  insertRefreshToken,
  lockLiveGrant,
  revokeFamily,
  revokeGrant,
} from '../tokens/refresh-tokens.js'
import { findResource, keepResource } from '../tokens/resources.js'
import { checkFapi2TokenRequest, isFapi2, rotatesRefreshTokens } from '../profiles/fapi2.js'
import { consumeCode, findCode } from '../storage/codes.js'
import type { Database } from '../storage/database.js'
import { isRefreshTokenLive, rotateRefreshToken } from '../storage/refresh-tokens.js'
import { inTransaction } from '../storage/transaction.js'
import { exchangeToken } from '../grants/token-exchange.js'
import { TOKEN_EXCHANGE_GRANT } from '../grants/token-exchange-config.js'
import { OAuthError, sendJson } from '../http/wire.js'

/** A token response body (RFC 6749 §5.1). */
export interface TokenResponse extends IssuedAccessToken {
  scope?: string
  refresh_token?: string
  /** RFC 8693 §2.2.1, token exchange only. */
  issued_token_type?: string
}

interface GrantInput {
  ctx: ServerContext
  client: Client
  params: Parameters
  proof: VerifiedProof | undefined
  /** Key the access token is bound to; `undefined` for a Bearer token (§5 policy). */
  bindTo: string | undefined
}

const GRANTS: Record<string, (input: GrantInput) => Promise<TokenResponse>> = {
  authorization_code: exchangeCode,
  refresh_token: refresh,
  client_credentials: clientCredentials,
  // RFC 8693: binds to the proof's key itself (bindTo is not used, see grants/token-exchange.ts).
  [TOKEN_EXCHANGE_GRANT]: exchangeToken,
}

const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/

function isPublic(client: Client): boolean {
  return client.token_endpoint_auth_method === 'none'
}

function withScope(token: IssuedAccessToken, scope: string): TokenResponse {
  return scope === '' ? token : { ...token, scope }
}

/**
 * Handles `POST /token`: checks the proof (nonce, replay), authenticates the client, runs the
 * grant and answers with `Cache-Control: no-store` and, when due, a rotated `DPoP-Nonce`.
 * @example
 * ```ts
 * app.post('/token', (request, reply) => handleToken(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function handleToken(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const urls = ctx.urls()
  const params = readParameters(request.body, 'body')
  // The proof goes first: a nonce challenge must not use up a client assertion.
  const proof = await checkProof(ctx, request, urls.token)
  const client = await authenticateClient(ctx, request, params, urls.token)
  const grantType = requireParameter(params, 'grant_type')
  const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined
  if (grant === undefined)
    throw new OAuthError('unsupported_grant_type', `grant_type "${grantType}" is not supported`)
  if (!client.grant_types.includes(grantType as Client['grant_types'][number])) {
    throw new OAuthError('unauthorized_client', `this client may not use grant_type ${grantType}`)
  }
  if (isFapi2(ctx.config, client)) checkFapi2TokenRequest(ctx, client, proof)
  if (proof === undefined && (client.dpop_bound_access_tokens || ctx.config.dpop.required)) {
    // RFC 9449 §5.2: a dpop_bound_access_tokens client is rejected without a DPoP header.
    throw new OAuthError('invalid_request', 'DPoP proof is required (DPoP header missing)')
  }
  const bindTo = client.bearer_access_tokens ? undefined : proof?.jkt
  const body = await grant({ ctx, client, params, proof, bindTo })
  ctx.metrics.tokens.inc({ grant_type: grantType, token_type: body.token_type })
  return sendJson(reply, 200, body, { nonce: await rotatedNonce(ctx, proof) })
}

async function clientCredentials({
  ctx,
  client,
  params,
  bindTo,
}: GrantInput): Promise<TokenResponse> {
  const scope = grantScope(params.scope, client.scope)
  const resource = findResource(ctx.config, params.resource)
  const token = await issueAccessToken(ctx, ctx.db, {
    client,
    subject: client.client_id,
    scope,
    jkt: bindTo,
    ...(resource === undefined ? {} : { resource }),
  })
  return withScope(token, scope)
}

function checkPkce(verifier: string, challenge: string): void {
  if (!CODE_VERIFIER.test(verifier))
    throw new OAuthError(
      'invalid_request',
      '"code_verifier" must be 43 to 128 unreserved characters',
    )
  const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url')
  if (computed !== challenge)
    throw new OAuthError(
      'invalid_grant',
      '"code_verifier" does not match the code challenge (PKCE)',
    )
}

async function exchangeCode({
  ctx,
  client,
  params,
  proof,
  bindTo,
}: GrantInput): Promise<TokenResponse> {
  const code = requireParameter(params, 'code')
  const verifier = requireParameter(params, 'code_verifier')
  const now = epochSeconds(ctx.now())
  const row = await findCode(ctx.db, hashHandle(code))
  if (row === undefined || row.client_id !== client.client_id || row.expires_at <= now) {
    throw new OAuthError(
      'invalid_grant',
      'authorization code is invalid, expired or issued to another client',
    )
  }
  if (row.consumed_at !== null) {
    // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
    await revokeGrant(ctx, ctx.db, row.grant_id)
    throw new OAuthError('invalid_grant', 'authorization code was already used')
  }
  if (params.redirect_uri !== undefined && params.redirect_uri !== row.redirect_uri) {
    throw new OAuthError('invalid_grant', '"redirect_uri" does not match the authorization request')
  }
  checkPkce(verifier, row.code_challenge)
  const resource = keepResource(ctx.config, row.resource, params.resource)
  if (row.dpop_jkt !== null) {
    // RFC 9449 §10: the proof key must be the one named by dpop_jkt (or the PAR proof, §10.1).
    if (proof === undefined)
      throw new OAuthError(
        'invalid_grant',
        'authorization code is bound to a DPoP key (dpop_jkt) and no proof was sent',
      )
    if (proof.jkt !== row.dpop_jkt)
      throw new OAuthError(
        'invalid_grant',
        'DPoP proof key does not match "dpop_jkt" of the authorization request',
      )
  }
  const issueRefresh = client.grant_types.includes('refresh_token')
  const familyId = randomHandle(16)
  const result = await inTransaction(ctx.db, async (trx) => {
    if (!(await consumeCode(trx, row.code_hash, now))) return undefined
    const token = await issueAccessToken(ctx, trx, {
      client,
      subject: row.subject,
      scope: row.scope,
      jkt: bindTo,
      familyId,
      grantId: row.grant_id,
      ...(resource === undefined ? {} : { resource }),
    })
    if (!issueRefresh) return withScope(token, row.scope)
    const refresh_token = await insertRefreshToken(ctx, trx, {
      familyId,
      grantId: row.grant_id,
      client,
      subject: row.subject,
      scope: row.scope,
      resource: resource?.identifier ?? null,
      // RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
      jkt: isPublic(client) ? (proof?.jkt ?? null) : null,
      familyExpiresAt: now + ctx.config.refreshTokens.absoluteLifetime,
    })
    return { ...withScope(token, row.scope), refresh_token }
  })
  if (result === undefined) {
    await revokeGrant(ctx, ctx.db, row.grant_id)
    throw new OAuthError('invalid_grant', 'authorization code was already used')
  }
  return result
}

async function refresh({ ctx, client, params, proof, bindTo }: GrantInput): Promise<TokenResponse> {
  const presented = requireParameter(params, 'refresh_token')
  const now = epochSeconds(ctx.now())
  const row = await findRefreshToken(ctx.db, presented)
  if (
    row === undefined ||
    row.client_id !== client.client_id ||
    row.revoked_at !== null ||
    row.expires_at <= now
  ) {
    throw new OAuthError(
      'invalid_grant',
      'refresh token is invalid, expired, revoked or issued to another client',
    )
  }
  if (row.jkt !== null && (proof === undefined || proof.jkt !== row.jkt)) {
    // RFC 9449 §5: the binding of a public client's refresh token is checked on every use.
    throw new OAuthError('invalid_grant', 'refresh token is bound to a different DPoP key')
  }
  if (row.rotated_at !== null) {
    await revokeFamily(ctx, ctx.db, row.family_id)
    throw new OAuthError(
      'invalid_grant',
      'refresh token was already used; its token family is revoked',
    )
  }
  const scope = params.scope === undefined ? row.scope : grantScope(params.scope, row.scope)
  const resource = keepResource(ctx.config, row.resource, params.resource)
  const rotate = rotatesRefreshTokens(ctx.config, client)
  const result = await inTransaction(ctx.db, async (trx) => {
    // The grant first: a reused code revokes it, and nothing may be issued from it after that.
    if (!(await lockLiveGrant(ctx, trx, row.grant_id)))
      throw new OAuthError('invalid_grant', 'the grant of this refresh token was revoked')
    if (!(await claimRefreshToken(trx, row.token_hash, now, rotate))) return undefined
    const token = await issueAccessToken(ctx, trx, {
      client,
      subject: row.subject,
      scope,
      jkt: bindTo,
      familyId: row.family_id,
      grantId: row.grant_id,
      ...(resource === undefined ? {} : { resource }),
    })
    // FAPI 2.0: the client keeps the refresh token it has, so none is sent (RFC 6749 §6).
    if (!rotate) return withScope(token, scope)
    const refresh_token = await insertRefreshToken(ctx, trx, {
      familyId: row.family_id,
      grantId: row.grant_id,
      client,
      subject: row.subject,
      scope: row.scope,
      resource: row.resource,
      jkt: row.jkt,
      familyExpiresAt: row.family_expires_at,
    })
    return { ...withScope(token, scope), refresh_token }
  })
  if (result === undefined && !rotate)
    throw new OAuthError(
      'invalid_grant',
      'refresh token is invalid, expired, revoked or issued to another client',
    )
  if (result === undefined) {
    // Lost a race with another use of the same token: that is reuse too.
    await revokeFamily(ctx, ctx.db, row.family_id)
    throw new OAuthError(
      'invalid_grant',
      'refresh token was already used; its token family is revoked',
    )
  }
  return result
}

// Marks the refresh token rotated, once (compare-and-set); without rotation only checks, inside
// the transaction, that it is still neither rotated nor revoked. False: another request won.
async function claimRefreshToken(
  trx: Kysely<Database>,
  tokenHash: string,
  now: number,
  rotate: boolean,
): Promise<boolean> {
  return rotate ? rotateRefreshToken(trx, tokenHash, now) : isRefreshTokenLive(trx, tokenHash)
}
