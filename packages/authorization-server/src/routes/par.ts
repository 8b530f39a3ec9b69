/**
 * Pushed authorization requests (RFC 9126) with DPoP (RFC 9449 §10.1): the key is given by
 * `dpop_jkt` in the body (or in a signed request object), by a `DPoP` proof for the PAR
 * endpoint, or both, and then the two must match.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10.1
 * @packageDocumentation
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  checkAuthorizationRequest,
  checkRedirectUri,
  readRequestObject,
} from '../grants/authorization-request.js'
import { authenticateClient } from '../clients/authentication.js'
import type { ServerContext } from '../context.js'
import { checkProof, rotatedNonce } from '../http/dpop.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { readParameters } from '../lib/form.js'
import { checkFapi2PushedRequest, isFapi2 } from '../profiles/fapi2.js'
import { savePushedRequest } from '../storage/pushed-requests.js'
import { OAuthError, sendJson } from '../http/wire.js'

/**
 * The URN prefix of the request URIs this server hands out (RFC 9126 §2.2).
 * @example
 * ```ts
 * requestUri.startsWith(REQUEST_URI_PREFIX)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'

/**
 * Handles `POST /par`: answers 201 with `request_uri` and `expires_in`.
 * @example
 * ```ts
 * app.post('/par', (request, reply) => handlePar(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export async function handlePar(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const urls = ctx.urls()
  const params = readParameters(request.body, 'body')
  if (params.request_uri !== undefined)
    throw new OAuthError(
      'invalid_request',
      '"request_uri" is not allowed in a pushed authorization request',
    )
  const proof = await checkProof(ctx, request, urls.par)
  const client = await authenticateClient(ctx, request, params, urls.par)
  const effective = await readRequestObject(ctx, client, params)
  if (isFapi2(ctx.config, client)) checkFapi2PushedRequest(ctx, client, effective, proof)
  const authorization = checkAuthorizationRequest(
    ctx.config,
    client,
    effective,
    checkRedirectUri(client, effective.redirect_uri),
  )
  if (proof !== undefined) {
    // §10.1: both mechanisms at once must name the same key; a proof alone acts as dpop_jkt.
    if (authorization.dpop_jkt !== undefined && authorization.dpop_jkt !== proof.jkt) {
      throw new OAuthError('invalid_request', '"dpop_jkt" does not match the key of the DPoP proof')
    }
    authorization.dpop_jkt = proof.jkt
  }
  const requestUri = `${REQUEST_URI_PREFIX}${randomHandle()}`
  const lifetime = ctx.config.par.lifetime
  await savePushedRequest(ctx.db, {
    requestHash: hashHandle(requestUri),
    clientId: client.client_id,
    parameters: JSON.stringify(authorization),
    expiresAt: epochSeconds(ctx.now()) + lifetime,
  })
  return sendJson(
    reply,
    201,
    { request_uri: requestUri, expires_in: lifetime },
    { nonce: await rotatedNonce(ctx, proof) },
  )
}
