/**
 * Client authentication at the token, PAR, introspection and revocation endpoints:
 * `none` (public clients), `client_secret_basic`, `client_secret_post` (RFC 6749 §2.3.1) and
 * `private_key_jwt` (RFC 7523 §2.2, with `jti` replay protection). A client must use the method
 * it registered, and only one method per request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 * @packageDocumentation
 */
import type { FastifyRequest } from 'fastify'
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose'
import type { Client } from './registry.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, equalsConstantTime, hashHandle } from '../lib/crypto.js'
import type { Parameters } from '../lib/form.js'
import { CLIENT_ASSERTION_ALGORITHMS } from '../keys/jws-algorithms.js'
import { checkFapi2JwtTimes, clientAlgorithms, isFapi2 } from '../profiles/fapi2.js'
import type { BudgetedEndpoint } from '../rate-limits/request-limits.js'
import { OAuthError } from '../http/wire.js'

/**
 * The client assertion type of `private_key_jwt` (RFC 7523 §2.2).
 * @example
 * ```ts
 * form.set('client_assertion_type', JWT_BEARER_ASSERTION)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const MAX_ASSERTION_LIFETIME = 600

interface Presented {
  clientId?: string | undefined
  method: Client['token_endpoint_auth_method']
  secret?: string
  assertion?: string
  basic: boolean
}

function decodeBasicPart(part: string): string {
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
  return decodeURIComponent(part.replace(/\+/g, ' '))
}

function readBasic(header: string): { clientId: string; secret: string } {
  const match = /^Basic +([A-Za-z0-9+/]+=*)$/i.exec(header)
  if (match === null)
    throw new OAuthError('invalid_client', 'Authorization header is not valid Basic credentials', {
      basicChallenge: true,
    })
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  try {
    if (colon < 1) throw new Error('no colon')
    return {
      clientId: decodeBasicPart(decoded.slice(0, colon)),
      secret: decodeBasicPart(decoded.slice(colon + 1)),
    }
  } catch {
    throw new OAuthError('invalid_client', 'Authorization header is not valid Basic credentials', {
      basicChallenge: true,
    })
  }
}

function presentedCredentials(request: FastifyRequest, params: Parameters): Presented {
  const authorization = request.headers.authorization
  const methods: Presented[] = []
  if (authorization !== undefined) {
    const { clientId, secret } = readBasic(authorization)
    methods.push({ clientId, secret, method: 'client_secret_basic', basic: true })
  }
  if (params.client_secret !== undefined) {
    methods.push({
      clientId: params.client_id,
      secret: params.client_secret,
      method: 'client_secret_post',
      basic: false,
    })
  }
  if (params.client_assertion !== undefined || params.client_assertion_type !== undefined) {
    if (
      params.client_assertion_type !== JWT_BEARER_ASSERTION ||
      params.client_assertion === undefined
    ) {
      throw new OAuthError(
        'invalid_request',
        `"client_assertion_type" must be ${JWT_BEARER_ASSERTION} with a "client_assertion"`,
      )
    }
    methods.push({
      clientId: params.client_id,
      assertion: params.client_assertion,
      method: 'private_key_jwt',
      basic: false,
    })
  }
  if (methods.length > 1)
    throw new OAuthError('invalid_request', 'more than one client authentication method used')
  const presented = methods[0] ?? { clientId: params.client_id, method: 'none', basic: false }
  if (
    presented.method === 'client_secret_basic' &&
    params.client_id !== undefined &&
    params.client_id !== presented.clientId
  ) {
    throw new OAuthError(
      'invalid_request',
      '"client_id" parameter does not match the authenticated client',
    )
  }
  if (presented.method === 'private_key_jwt' && presented.clientId === undefined) {
    presented.clientId = readAssertionIssuer(presented.assertion!)
  }
  return presented
}

function readAssertionIssuer(assertion: string): string {
  try {
    const iss = decodeJwt(assertion).iss
    if (typeof iss === 'string') return iss
  } catch {
    // falls through to the error below
  }
  throw new OAuthError('invalid_client', 'client assertion is not a valid JWT')
}

async function checkAssertion(
  ctx: ServerContext,
  client: Client,
  assertion: string,
  endpointUrl: string,
): Promise<void> {
  const urls = ctx.urls()
  let payload
  try {
    const jwks = createLocalJWKSet(client.jwks as JSONWebKeySet)
    ;({ payload } = await jwtVerify(assertion, jwks, {
      issuer: client.client_id,
      subject: client.client_id,
      audience: [urls.issuer, urls.token, endpointUrl],
      algorithms: [...clientAlgorithms(ctx.config, client, CLIENT_ASSERTION_ALGORITHMS)],
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(ctx.now()),
      clockTolerance: ctx.config.dpop.clockTolerance,
    }))
  } catch (error) {
    throw new OAuthError('invalid_client', 'client assertion is invalid', { cause: error })
  }
  if (isFapi2(ctx.config, client))
    checkFapi2JwtTimes(ctx, payload, 'invalid_client', 'client assertion')
  const now = epochSeconds(ctx.now())
  if (
    payload.exp! - now > MAX_ASSERTION_LIFETIME ||
    typeof payload.jti !== 'string' ||
    payload.jti.length > 256
  ) {
    throw new OAuthError(
      'invalid_client',
      'client assertion "exp" is too far in the future or "jti" is invalid',
    )
  }
  // RFC 7523 §3 item 7: a `jti` is accepted once while the assertion is valid, and it stays
  // valid until `exp` plus the clock tolerance jwtVerify allowed; a minute more covers an
  // instance whose clock runs behind.
  const tolerance = ctx.config.dpop.clockTolerance
  const fresh = await ctx.replayStore.checkAndRecord(
    `client-assertion:${hashHandle(client.client_id)}`,
    payload.jti,
    (payload.exp! - now + tolerance + 60) * 1000,
  )
  if (!fresh) throw new OAuthError('invalid_client', 'client assertion was already used')
}

/**
 * Authenticates the client of a request with the method it registered. Throws `invalid_client`
 * (401, with a Basic challenge when Basic was tried) or `invalid_request`.
 * @example
 * ```ts
 * const client = await authenticateClient(ctx, request, params, ctx.urls().token)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3
 */
export async function authenticateClient(
  ctx: ServerContext,
  request: FastifyRequest,
  params: Parameters,
  endpointUrl: string,
): Promise<Client> {
  const presented = presentedCredentials(request, params)
  const fail = (description: string): never => {
    throw new OAuthError('invalid_client', description, { basicChallenge: presented.basic })
  }
  if (presented.clientId === undefined) fail('client authentication failed: no client_id')
  // Counted (and limited) before anything is checked, under the decoded client id.
  const attempt = ctx.limits.beginClientAuthentication(
    budgetOf(ctx, endpointUrl),
    presented.clientId!,
    request.ip,
  )
  try {
    const client = await checkCredentials(ctx, presented, endpointUrl, fail)
    attempt.succeeded()
    return client
  } catch (error) {
    if (error instanceof OAuthError && error.error === 'invalid_client') attempt.failed()
    else attempt.aborted()
    throw error
  }
}

function budgetOf(ctx: ServerContext, endpointUrl: string): BudgetedEndpoint | undefined {
  const urls = ctx.urls()
  return endpointUrl === urls.token ? 'token' : endpointUrl === urls.par ? 'par' : undefined
}

async function checkCredentials(
  ctx: ServerContext,
  presented: Presented,
  endpointUrl: string,
  fail: (description: string) => never,
): Promise<Client> {
  const client = await ctx.clients.find(presented.clientId!)
  if (client === undefined) return fail('client authentication failed: unknown client')
  if (client.token_endpoint_auth_method !== presented.method) {
    fail(`client authentication failed: this client must use ${client.token_endpoint_auth_method}`)
  }
  if (presented.secret !== undefined) {
    if (
      client.secretHash === undefined ||
      !equalsConstantTime(hashHandle(presented.secret), client.secretHash)
    ) {
      fail('client authentication failed')
    }
  }
  if (presented.assertion !== undefined)
    await checkAssertion(ctx, client, presented.assertion, endpointUrl)
  return client
}
