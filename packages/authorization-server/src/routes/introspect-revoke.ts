/**
 * Token introspection (RFC 7662, with `cnf.jkt` and `token_type` per RFC 9449 §6.2) and token
 * revocation (RFC 7009). Neither takes a DPoP proof: the resource server checks the binding
 * itself from the introspection answer.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 * @packageDocumentation
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authenticateClient } from '../client-auth.js'
import type { ServerContext } from '../context.js'
import { hashHandle } from '../lib/crypto.js'
import { readParameters, requireParameter } from '../lib/form.js'
import { denyJti, inspectToken, revokeFamily } from '../tokens.js'
import { OAuthError, sendJson } from '../wire.js'

/**
 * Handles `POST /introspect`. Only confidential clients may introspect; a refresh token is
 * described only to the client it was issued to. Inactive tokens get `{"active":false}` and
 * nothing else.
 * @example
 * ```ts
 * app.post('/introspect', (request, reply) => handleIntrospect(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.2
 */
export async function handleIntrospect(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const params = readParameters(request.body, 'body')
  const client = await authenticateClient(ctx, request, params, ctx.urls().introspect)
  if (client.token_endpoint_auth_method === 'none')
    throw new OAuthError('invalid_client', 'public clients may not introspect tokens')
  const info = await inspectToken(ctx, requireParameter(params, 'token'))
  if (
    info === undefined ||
    (info.kind === 'refresh_token' && info.client_id !== client.client_id)
  ) {
    return sendJson(reply, 200, { active: false })
  }
  const body: Record<string, unknown> = {
    active: true,
    iss: ctx.urls().issuer,
    client_id: info.client_id,
    sub: info.sub,
    exp: info.exp,
  }
  if (info.scope !== '') body.scope = info.scope
  if (info.iat !== undefined) body.iat = info.iat
  if (info.aud !== undefined) body.aud = info.aud
  if (info.jti !== undefined) body.jti = info.jti
  if (info.kind === 'access_token') body.token_type = info.jkt === undefined ? 'Bearer' : 'DPoP'
  if (info.jkt !== undefined) body.cnf = { jkt: info.jkt }
  return sendJson(reply, 200, body)
}

/**
 * Handles `POST /revoke`: revokes a refresh token (with its family and the opaque access tokens
 * issued from it) or an access token of the calling client; always 200 for unknown tokens.
 * @example
 * ```ts
 * app.post('/revoke', (request, reply) => handleRevoke(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function handleRevoke(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const params = readParameters(request.body, 'body')
  const client = await authenticateClient(ctx, request, params, ctx.urls().revoke)
  const token = requireParameter(params, 'token')
  const info = await inspectToken(ctx, token)
  if (info !== undefined && info.client_id === client.client_id) {
    if (info.kind === 'refresh_token') {
      await revokeFamily(ctx, ctx.db, info.familyId!)
    } else if (token.startsWith('kbat_')) {
      await ctx.db
        .updateTable('kb_access_tokens')
        .set({ revoked_at: Math.floor(ctx.now() / 1000) })
        .where('token_hash', '=', hashHandle(token))
        .execute()
    } else if (info.jti !== undefined) {
      // One statement: two revocations of the same JWT at once must not collide on the key.
      await denyJti(ctx.db, info.jti, info.exp)
    }
  }
  return sendJson(reply, 200, {})
}
