/**
 * The authorization endpoint (RFC 6749 §4.1) with a login page for configured users and a
 * consent page for third-party clients. The code goes back with `state` and the RFC 9207 `iss`
 * parameter; it carries the PKCE challenge and the `dpop_jkt` binding to the token endpoint.
 *
 * A login interaction is a row bound to the browser by a cookie (so a form cannot be posted
 * from another browser) and used once.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc9207#section-2
 * @packageDocumentation
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  checkAuthorizationRequest,
  checkRedirectUri,
  readRequestObject,
  type AuthorizationParameters,
} from '../authorization-request.js'
import type { Client } from '../clients.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { readParameters, splitScope, type Parameters } from '../lib/form.js'
import { checkPassword, scryptCost, storeUpgradedHash } from '../passwords.js'
import type { AuthorizationRequestsTable } from '../storage/database.js'
import { OAuthError, redirectError, setNoStore, showError, toOAuthError } from '../wire.js'
import { consentPage, formPagePolicy, loginPage } from '../views/page.js'
import { codeLifetime, isFapi2 } from '../profiles/fapi2.js'
import { REQUEST_URI_PREFIX } from './par.js'
import { isAllowedRegisteredRedirect } from './register.js'

const BROWSER_COOKIE = 'kb_browser'
const INTERACTION_LIFETIME = 600

function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

function browserId(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): string {
  const existing = readCookie(request, BROWSER_COOKIE)
  if (existing !== undefined && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing
  const id = randomHandle()
  const issuer = new URL(ctx.urls().issuer)
  const secure = issuer.protocol === 'https:' ? '; Secure' : ''
  reply.header(
    'Set-Cookie',
    `${BROWSER_COOKIE}=${id}; Path=${issuer.pathname.replace(/\/?$/, '/')}; HttpOnly; SameSite=Lax${secure}`,
  )
  return id
}

function clientLabel(client: Client): string {
  return client.client_name ?? client.client_id
}

function renderLogin(
  ctx: ServerContext,
  reply: FastifyReply,
  client: Client,
  interaction: string,
  redirectUri: string,
  error?: string,
): FastifyReply {
  setNoStore(reply)
  reply
    .header('X-Frame-Options', 'DENY')
    .header('Content-Security-Policy', formPagePolicy(redirectUri))
  return reply
    .code(error === undefined ? 200 : 401)
    .type('text/html; charset=utf-8')
    .send(
      loginPage({
        clientName: clientLabel(client),
        issuer: ctx.urls().issuer,
        action: ctx.urls().login,
        interaction,
        ...(error === undefined ? {} : { error }),
      }),
    )
}

function renderConsent(
  ctx: ServerContext,
  reply: FastifyReply,
  client: Client,
  interaction: string,
  scope: string,
  redirectUri: string,
): FastifyReply {
  setNoStore(reply)
  reply
    .header('X-Frame-Options', 'DENY')
    .header('Content-Security-Policy', formPagePolicy(redirectUri))
  return reply.type('text/html; charset=utf-8').send(
    consentPage({
      clientName: clientLabel(client),
      issuer: ctx.urls().issuer,
      action: ctx.urls().consent,
      interaction,
      scopes: splitScope(scope),
    }),
  )
}

async function takePushedRequest(
  ctx: ServerContext,
  client: Client,
  requestUri: string,
): Promise<AuthorizationParameters> {
  const now = epochSeconds(ctx.now())
  const hash = hashHandle(requestUri)
  // One-time use (RFC 9126 §7.3): the row is claimed by a compare-and-set.
  const claimed = await ctx.db
    .updateTable('kb_authorization_requests')
    .set({ used_at: now })
    .where('request_hash', '=', hash)
    .where('kind', '=', 'par')
    .where('client_id', '=', client.client_id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst()
  if (!requestUri.startsWith(REQUEST_URI_PREFIX) || claimed.numUpdatedRows !== 1n) {
    throw new OAuthError(
      'invalid_request_uri',
      '"request_uri" is unknown, expired, used or issued to another client',
    )
  }
  const row = await ctx.db
    .selectFrom('kb_authorization_requests')
    .select('parameters')
    .where('request_hash', '=', hash)
    .executeTakeFirstOrThrow()
  return JSON.parse(row.parameters) as AuthorizationParameters
}

/** A request that failed after its client and redirect URI were found consistent. */
interface RequestFailure {
  failure: OAuthError
  redirectUri: string
  state: string | undefined
}

async function resolveRequest(
  ctx: ServerContext,
  client: Client,
  params: Parameters,
): Promise<{ parameters: AuthorizationParameters } | RequestFailure> {
  if (params.request_uri !== undefined)
    return { parameters: await takePushedRequest(ctx, client, params.request_uri) }
  const effective = await readRequestObject(ctx, client, params)
  const redirectUri = checkRedirectUri(client, effective.redirect_uri)
  try {
    if (
      ctx.config.par.required ||
      client.require_pushed_authorization_requests ||
      isFapi2(ctx.config, client)
    ) {
      throw new OAuthError(
        'invalid_request',
        'this client must use pushed authorization requests (request_uri)',
      )
    }
    return { parameters: checkAuthorizationRequest(ctx.config, client, effective, redirectUri) }
  } catch (error) {
    return { failure: toOAuthError(error), redirectUri, state: effective.state }
  }
}

// The error codes RFC 6749 §4.1.2.1 sends back to the client, plus RFC 8707 §2's
// `invalid_target`; anything else (request objects, request URIs) is shown to the user.
const REDIRECTED_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request',
  'unauthorized_client',
  'access_denied',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
  'invalid_target',
])

/**
 * Whether an error may be sent to `redirectUri` before the user did anything. A redirect URI
 * of a dynamically registered client is the registrant's choice: redirecting to it without a
 * user in the loop would make this server an open redirector (RFC 9700 §4.11.2), unless the
 * operator restricted registrations to https URIs on hosts of `registration.trustedRedirectHosts`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
function mayRedirectError(ctx: ServerContext, client: Client, failure: RequestFailure): boolean {
  if (!REDIRECTED_ERRORS.has(failure.failure.error)) return false
  if (client.source === 'config') return true
  return isAllowedRegisteredRedirect(ctx.config, failure.redirectUri)
}

/**
 * Handles `GET /authorize`: validates the request (or takes the pushed one) and shows the login
 * page. Unknown clients, unregistered redirect URIs and untrusted redirect URIs of registered
 * clients get an error page; the errors of RFC 6749 §4.1.2.1 go to a trusted redirect URI.
 * @example
 * ```ts
 * app.get('/authorize', (request, reply) => handleAuthorize(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function handleAuthorize(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  try {
    // Each request can store a sign-in row: an address gets rateLimits.authorize of them.
    ctx.endpointLimits.checkAuthorize(request.ip)
    const params = readParameters(request.query, 'query')
    const client =
      params.client_id === undefined ? undefined : await ctx.clients.find(params.client_id)
    if (client === undefined)
      throw new OAuthError('invalid_request', '"client_id" is missing or unknown')
    const resolved = await resolveRequest(ctx, client, params)
    if ('failure' in resolved) {
      const failure = logged(ctx, resolved.failure)
      if (!mayRedirectError(ctx, client, resolved)) return showError(reply, failure)
      return redirectError(reply, resolved.redirectUri, failure, {
        state: resolved.state,
        issuer: issuerParameter(ctx),
      })
    }
    const authorization = resolved.parameters
    const interaction = randomHandle()
    await ctx.db
      .insertInto('kb_authorization_requests')
      .values({
        request_hash: hashHandle(interaction),
        kind: 'interaction',
        client_id: client.client_id,
        parameters: JSON.stringify(authorization),
        browser_hash: hashHandle(browserId(ctx, request, reply)),
        subject: null,
        expires_at: epochSeconds(ctx.now()) + INTERACTION_LIFETIME,
        used_at: null,
      })
      .execute()
    return renderLogin(ctx, reply, client, interaction, authorization.redirect_uri)
  } catch (error) {
    return showError(reply, logged(ctx, toOAuthError(error)))
  }
}

// RFC 9207 §2: the issuer goes with every authorization response unless the operator turned it
// off (never under the FAPI 2.0 profile, which the config check enforces).
function issuerParameter(ctx: ServerContext): string | undefined {
  return ctx.config.authorizationResponse.iss ? ctx.urls().issuer : undefined
}

function logged(ctx: ServerContext, error: OAuthError): OAuthError {
  if (error.status >= 500)
    ctx.log.error({ err: error.cause ?? error }, 'authorization endpoint failed')
  ctx.metrics.errors.inc({ endpoint: '/authorize', error: error.error })
  return error
}

interface Interaction {
  row: AuthorizationRequestsTable
  client: Client
  parameters: AuthorizationParameters
  interaction: string
}

async function loadInteraction(
  ctx: ServerContext,
  request: FastifyRequest,
  params: Parameters,
): Promise<Interaction> {
  const interaction = params.interaction
  const row =
    interaction === undefined
      ? undefined
      : await ctx.db
          .selectFrom('kb_authorization_requests')
          .selectAll()
          .where('request_hash', '=', hashHandle(interaction))
          .executeTakeFirst()
  const browser = readCookie(request, BROWSER_COOKIE)
  if (
    row === undefined ||
    row.kind !== 'interaction' ||
    row.used_at !== null ||
    row.expires_at <= epochSeconds(ctx.now()) ||
    browser === undefined ||
    row.browser_hash !== hashHandle(browser)
  ) {
    throw new OAuthError(
      'invalid_request',
      'the sign-in session is unknown, expired or belongs to another browser',
    )
  }
  const client = await ctx.clients.find(row.client_id)
  if (client === undefined)
    throw new OAuthError('invalid_request', 'the client of this sign-in no longer exists')
  return {
    row,
    client,
    parameters: JSON.parse(row.parameters) as AuthorizationParameters,
    interaction: interaction!,
  }
}

async function hasConsent(
  ctx: ServerContext,
  client: Client,
  subject: string,
  scope: string,
): Promise<boolean> {
  if (client.first_party) return true
  const grants = await ctx.db
    .selectFrom('kb_grants')
    .select('scope')
    .where('client_id', '=', client.client_id)
    .where('subject', '=', subject)
    .where('revoked_at', 'is', null)
    .execute()
  const wanted = splitScope(scope)
  return grants.some((grant) => {
    const granted = new Set(splitScope(grant.scope))
    return wanted.every((token) => granted.has(token))
  })
}

async function issueCode(
  ctx: ServerContext,
  reply: FastifyReply,
  found: Interaction,
  subject: string,
): Promise<FastifyReply> {
  const { parameters, row } = found
  const now = epochSeconds(ctx.now())
  const code = randomHandle()
  const grantId = randomHandle(16)
  const issued = await ctx.db.transaction().execute(async (trx) => {
    const claimed = await trx
      .updateTable('kb_authorization_requests')
      .set({ used_at: now })
      .where('request_hash', '=', row.request_hash)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    if (claimed.numUpdatedRows !== 1n) return false
    await trx
      .insertInto('kb_grants')
      .values({
        grant_id: grantId,
        client_id: parameters.client_id,
        subject,
        scope: parameters.scope,
        created_at: now,
        revoked_at: null,
      })
      .execute()
    await trx
      .insertInto('kb_authorization_codes')
      .values({
        code_hash: hashHandle(code),
        client_id: parameters.client_id,
        grant_id: grantId,
        subject,
        redirect_uri: parameters.redirect_uri,
        scope: parameters.scope,
        code_challenge: parameters.code_challenge,
        dpop_jkt: parameters.dpop_jkt ?? null,
        resource: parameters.resource ?? null,
        expires_at: now + codeLifetime(ctx.config, found.client),
        consumed_at: null,
      })
      .execute()
    return true
  })
  if (!issued) throw new OAuthError('invalid_request', 'this sign-in was already completed')
  const target = new URL(parameters.redirect_uri)
  target.searchParams.set('code', code)
  if (parameters.state !== undefined) target.searchParams.set('state', parameters.state)
  const issuer = issuerParameter(ctx)
  if (issuer !== undefined) target.searchParams.set('iss', issuer)
  setNoStore(reply)
  return reply.redirect(target.href, 303)
}

// The user whose password this is, or undefined for an unknown user or a wrong password (both
// cost one scrypt run). A hash below the current cost is replaced by a new one.
async function signInUser(
  ctx: ServerContext,
  params: Parameters,
): Promise<{ subject: string } | undefined> {
  const user =
    params.username === undefined
      ? undefined
      : await ctx.db
          .selectFrom('kb_users')
          .selectAll()
          .where('username', '=', params.username)
          .executeTakeFirst()
  const cost = scryptCost(ctx.config.passwords.scryptLogN)
  const check = await checkPassword(params.password ?? '', user?.password_hash, cost)
  if (!check.ok || user === undefined) return undefined
  if (check.needsRehash) {
    const now = epochSeconds(ctx.now())
    await storeUpgradedHash(ctx.db, user.username, user.password_hash, params.password!, cost, now)
      // The sign-in itself succeeded; the next one tries the upgrade again.
      .catch((error: unknown) => ctx.log.warn({ err: error }, 'password hash upgrade failed'))
  }
  return user
}

/**
 * Handles `POST /authorize/login`: checks the password (scrypt), then shows the consent page for
 * third-party clients without a covering grant, or issues the code.
 * @example
 * ```ts
 * app.post('/authorize/login', (request, reply) => handleLogin(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function handleLogin(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  try {
    const params = readParameters(request.body, 'body')
    const found = await loadInteraction(ctx, request, params)
    if (found.row.subject !== null)
      throw new OAuthError('invalid_request', 'already signed in for this request')
    // Counted before the password is checked (and refunded on success): a limited guesser
    // learns nothing from further tries, however many it sends at once.
    const attempt = ctx.limits.beginLogin(params.username, request.ip)
    const user = await signInUser(ctx, params).catch((error: unknown) => {
      attempt.aborted()
      throw error
    })
    if (user === undefined) {
      attempt.failed()
      ctx.log.info({ client_id: found.client.client_id }, 'sign-in failed')
      return renderLogin(
        ctx,
        reply,
        found.client,
        found.interaction,
        found.parameters.redirect_uri,
        'Invalid username or password.',
      )
    }
    attempt.succeeded()
    const subject = user.subject
    if (await hasConsent(ctx, found.client, subject, found.parameters.scope))
      return await issueCode(ctx, reply, found, subject)
    await ctx.db
      .updateTable('kb_authorization_requests')
      .set({ subject })
      .where('request_hash', '=', found.row.request_hash)
      .execute()
    return renderConsent(
      ctx,
      reply,
      found.client,
      found.interaction,
      found.parameters.scope,
      found.parameters.redirect_uri,
    )
  } catch (error) {
    return showError(reply, logged(ctx, toOAuthError(error)))
  }
}

/**
 * Handles `POST /authorize/consent`: `decision=allow` issues the code, anything else answers
 * `access_denied` at the redirect URI.
 * @example
 * ```ts
 * app.post('/authorize/consent', (request, reply) => handleConsent(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
export async function handleConsent(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  try {
    const params = readParameters(request.body, 'body')
    const found = await loadInteraction(ctx, request, params)
    if (found.row.subject === null) throw new OAuthError('invalid_request', 'sign in first')
    if (params.decision === 'allow') return await issueCode(ctx, reply, found, found.row.subject)
    await ctx.db
      .updateTable('kb_authorization_requests')
      .set({ used_at: epochSeconds(ctx.now()) })
      .where('request_hash', '=', found.row.request_hash)
      .execute()
    return redirectError(
      reply,
      found.parameters.redirect_uri,
      new OAuthError('access_denied', 'the user denied the request'),
      {
        state: found.parameters.state,
        issuer: issuerParameter(ctx),
      },
    )
  } catch (error) {
    return showError(reply, logged(ctx, toOAuthError(error)))
  }
}
