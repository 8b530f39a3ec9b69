/**
 * Validation of authorization requests, shared by `/authorize` and `/par`: response type,
 * redirect URI, PKCE S256 (required), scope, `state`, `dpop_jkt` (RFC 9449 §10) and signed
 * request objects (RFC 9101, so `dpop_jkt` can travel inside a JAR, AS15).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10
 * @packageDocumentation
 */
import type { AuthorizationServerConfig } from '../config.js'
import { findResource } from '../tokens/resources.js'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import type { Client } from '../clients/registry.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, hashHandle } from '../lib/crypto.js'
import { grantScope, type Parameters } from '../lib/form.js'
import { REQUEST_OBJECT_ALGORITHMS } from '../keys/jws-algorithms.js'
import { checkFapi2JwtTimes, clientAlgorithms, isFapi2 } from '../profiles/fapi2.js'
import { claimRequestObject as claimRequestObjectRow } from '../storage/request-objects.js'
import { OAuthError } from '../http/wire.js'

/** A validated authorization request. */
export interface AuthorizationParameters {
  client_id: string
  redirect_uri: string
  scope: string
  state?: string
  code_challenge: string
  dpop_jkt?: string
  /** RFC 8707 resource indicator, checked against the configured resources. */
  resource?: string
}

/**
 * Longest values, in characters, of the authorization request parameters that are stored (in
 * a sign-in interaction or a pushed request) or echoed: a longer one is refused with
 * `invalid_request`, so one request costs the database a bounded row. `code_challenge` and
 * `dpop_jkt` have exact formats (43 characters), `client_id` is a registered one.
 * @example
 * ```ts
 * MAX_PARAMETER_LENGTHS.state // 1024
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export const MAX_PARAMETER_LENGTHS = {
  state: 1024,
  nonce: 512,
  scope: 2048,
  redirect_uri: 2048,
  resource: 2048,
} as const

const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/
const JKT = /^[A-Za-z0-9_-]{43}$/
/**
 * Longest a signed request object may stay valid: its `exp` at most this many seconds ahead
 * (plus the clock tolerance). It bounds how long a used object must be remembered.
 */
export const MAX_REQUEST_OBJECT_LIFETIME = 600

/**
 * The parameters of a request, taken from its signed request object (`request`, RFC 9101 §6.3)
 * when there is one: then only the object's claims count, and its `client_id` must match.
 * @example
 * ```ts
 * const effective = await readRequestObject(ctx, client, params)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9101#section-6.3
 */
export async function readRequestObject(
  ctx: ServerContext,
  client: Client,
  params: Parameters,
): Promise<Parameters> {
  if (params.request === undefined) return params
  if (client.jwks === undefined)
    throw new OAuthError(
      'invalid_request_object',
      'this client has no registered keys (jwks) for request objects',
    )
  let claims: Record<string, unknown>
  try {
    const { payload, protectedHeader } = await jwtVerify(
      params.request,
      createLocalJWKSet(client.jwks as JSONWebKeySet),
      {
        issuer: client.client_id,
        audience: ctx.urls().issuer,
        algorithms: [...clientAlgorithms(ctx.config, client, REQUEST_OBJECT_ALGORITHMS)],
        currentDate: new Date(ctx.now()),
        clockTolerance: ctx.config.dpop.clockTolerance,
      },
    )
    // RFC 8725 §3.11 / RFC 9449 §11.5: a DPoP proof is not a request object.
    if (
      typeof protectedHeader.typ === 'string' &&
      !/^(oauth-authz-req\+jwt|jwt)$/i.test(protectedHeader.typ)
    ) {
      throw new Error('unexpected typ')
    }
    claims = payload
  } catch (error) {
    throw new OAuthError('invalid_request_object', 'request object is invalid', { cause: error })
  }
  if (isFapi2(ctx.config, client))
    checkFapi2JwtTimes(ctx, claims, 'invalid_request_object', 'request object')
  const expiresAt = checkRequestObjectLifetime(ctx, claims)
  const effective: Parameters = {}
  for (const [name, value] of Object.entries(claims)) {
    if (typeof value === 'string') effective[name] = value
  }
  if (effective.client_id !== undefined && effective.client_id !== client.client_id) {
    throw new OAuthError(
      'invalid_request_object',
      'request object "client_id" does not match the client',
    )
  }
  effective.client_id = client.client_id
  delete effective.request
  delete effective.request_uri
  await claimRequestObject(ctx, client, params.request, claims.jti, expiresAt)
  return effective
}

// A request object without `exp`, or valid for longer than the bound, could be replayed for as
// long as it lives, and its use would have to be remembered that long (RFC 9101 §10.8).
function checkRequestObjectLifetime(ctx: ServerContext, claims: Record<string, unknown>): number {
  const { exp } = claims
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new OAuthError('invalid_request_object', 'request object must carry "exp"')
  const tolerance = ctx.config.dpop.clockTolerance
  if (exp - epochSeconds(ctx.now()) > MAX_REQUEST_OBJECT_LIFETIME + tolerance) {
    throw new OAuthError(
      'invalid_request_object',
      `request object "exp" is more than ${MAX_REQUEST_OBJECT_LIFETIME} seconds ahead`,
    )
  }
  return Math.ceil(exp) + tolerance
}

/**
 * Records the use of a request object, once: its `jti` (per client), or the object itself when
 * it has none. A second use while it can still be accepted is refused; the compare-and-set runs
 * in the database, so instances sharing it refuse a replay at another instance too.
 */
async function claimRequestObject(
  ctx: ServerContext,
  client: Client,
  request: string,
  jti: unknown,
  expiresAt: number,
): Promise<void> {
  if (jti !== undefined && (typeof jti !== 'string' || jti === '' || jti.length > 512))
    throw new OAuthError('invalid_request_object', 'request object "jti" must be a short string')
  const idHash = hashHandle(
    jti === undefined
      ? `object:${request}`
      : `jti:${client.client_id.length}:${client.client_id}:${jti}`,
  )
  const now = epochSeconds(ctx.now())
  // An entry that has expired (the sweep has not removed it yet) no longer blocks the jti.
  if (!(await claimRequestObjectRow(ctx.db, idHash, expiresAt, now)))
    throw new OAuthError('invalid_request_object', 'request object was already used (same "jti")')
}

/**
 * The redirect URI of a request: the given one when it is registered (exact match), the only
 * registered one when none is given. Errors here must be shown, never redirected.
 * @example
 * ```ts
 * const redirectUri = checkRedirectUri(client, params.redirect_uri)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2.3
 */
export function checkRedirectUri(client: Client, redirectUri: string | undefined): string {
  checkParameterLength('redirect_uri', redirectUri)
  if (redirectUri === undefined) {
    if (client.redirect_uris.length === 1) return client.redirect_uris[0]!
    throw new OAuthError('invalid_request', '"redirect_uri" parameter is required')
  }
  if (!client.redirect_uris.includes(redirectUri))
    throw new OAuthError('invalid_request', '"redirect_uri" is not registered for this client')
  return redirectUri
}

/**
 * Checks everything else of an authorization request once the redirect URI is trusted; the
 * errors it throws may be sent to the redirect URI.
 * @example
 * ```ts
 * const authorization = checkAuthorizationRequest(ctx.config, client, params, redirectUri)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.4.1
 */
export function checkAuthorizationRequest(
  config: AuthorizationServerConfig,
  client: Client,
  params: Parameters,
  redirectUri: string,
): AuthorizationParameters {
  for (const name of Object.keys(MAX_PARAMETER_LENGTHS) as (keyof typeof MAX_PARAMETER_LENGTHS)[])
    checkParameterLength(name, params[name])
  if (params.response_type !== 'code') {
    throw new OAuthError(
      params.response_type === undefined ? 'invalid_request' : 'unsupported_response_type',
      'response_type must be "code"',
    )
  }
  if (!client.grant_types.includes('authorization_code')) {
    throw new OAuthError(
      'unauthorized_client',
      'this client may not use the authorization code grant',
    )
  }
  if (params.code_challenge === undefined || !CODE_CHALLENGE.test(params.code_challenge)) {
    throw new OAuthError(
      'invalid_request',
      '"code_challenge" is required: PKCE with S256 (43 base64url characters)',
    )
  }
  if (params.code_challenge_method !== 'S256') {
    throw new OAuthError('invalid_request', '"code_challenge_method" must be S256')
  }
  if (params.dpop_jkt !== undefined && !JKT.test(params.dpop_jkt)) {
    throw new OAuthError('invalid_request', '"dpop_jkt" must be a base64url SHA-256 JWK thumbprint')
  }
  const scope = grantScope(params.scope, client.scope)
  const resource = findResource(config, params.resource)
  return {
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope,
    ...(params.state === undefined ? {} : { state: params.state }),
    code_challenge: params.code_challenge,
    ...(params.dpop_jkt === undefined ? {} : { dpop_jkt: params.dpop_jkt }),
    ...(resource === undefined ? {} : { resource: resource.identifier }),
  }
}

function checkParameterLength(
  name: keyof typeof MAX_PARAMETER_LENGTHS,
  value: string | undefined,
): void {
  const max = MAX_PARAMETER_LENGTHS[name]
  if (value !== undefined && value.length > max)
    throw new OAuthError('invalid_request', `"${name}" must be at most ${max} characters`)
}
