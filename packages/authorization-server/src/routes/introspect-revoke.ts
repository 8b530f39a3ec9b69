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
import { authenticateClient } from '../clients/authentication.js'
import type { Client } from '../clients/registry.js'
import type { ServerContext } from '../context.js'
import { hashHandle } from '../lib/crypto.js'
import { readParameters, requireParameter } from '../lib/form.js'
import { denyJti, revokeAccessTokenByHash } from '../storage/access-tokens.js'
import { OPAQUE_PREFIX } from '../tokens/access-tokens.js'
import { inspectToken, type TokenInfo } from '../tokens/inspect.js'
import { revokeFamily } from '../tokens/refresh-tokens.js'
import { OAuthError, sendJson } from '../http/wire.js'

/**
 * Whether `client` may learn that a token is active (RFC 7662 §4): the token's own client, a
 * client whose `client_id` is the token's `aud`, and resource servers the operator marked
 * (`resource_server`: every token, or tokens of the audiences listed). A refresh token only to
 * its own client.
 * @example
 * ```ts
 * if (!mayIntrospect(client, info)) return sendJson(reply, 200, { active: false })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-4
 */
export function mayIntrospect(client: Client, info: TokenInfo): boolean {
  if (info.client_id === client.client_id) return true
  if (info.kind === 'refresh_token' || info.aud === undefined) return false
  const allowed = client.resource_server
  return (
    info.aud === client.client_id ||
    allowed === true ||
    (allowed !== undefined && allowed.includes(info.aud))
  )
}

/**
 * Handles `POST /introspect`. Only confidential clients may introspect, within the
 * `rateLimits.introspect` budget, and only tokens {@link mayIntrospect} lets them see: for
 * anything else, inactive or not theirs, the answer is `{"active":false}` and nothing more.
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
  // Once authenticated: naming a client does not spend its budget.
  ctx.endpointLimits.checkIntrospect(client.client_id)
  if (client.token_endpoint_auth_method === 'none')
    throw new OAuthError('invalid_client', 'public clients may not introspect tokens')
  const info = await inspectToken(ctx, requireParameter(params, 'token'))
  // The same answer for an unknown token and for one the caller may not see: no oracle.
  if (info === undefined || !mayIntrospect(client, info))
    return sendJson(reply, 200, { active: false })
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
    } else if (token.startsWith(OPAQUE_PREFIX)) {
      await revokeAccessTokenByHash(ctx.db, hashHandle(token), Math.floor(ctx.now() / 1000))
    } else if (info.jti !== undefined) {
      // One statement: two revocations of the same JWT at once must not collide on the key.
      await denyJti(ctx.db, info.jti, info.exp)
    }
  }
  return sendJson(reply, 200, {})
}
