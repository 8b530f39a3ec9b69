/**
 * The authorization endpoint (RFC 6749 §4.1) with a login page for configured users and a
 * consent page for third-party clients. The code goes back with `state` and the RFC 9207 `iss`
 * parameter; it carries the PKCE challenge and the `dpop_jkt` binding to the token endpoint.
 *
 * A login interaction is a row bound to the browser by a cookie (so a form cannot be posted
 * from another browser) and used once. Each handler reads as its steps: parse, check the
 * client, find the session, sign in, consent, issue the code, redirect. The rows live in
 * storage/, the pages in views/, the cookie in lib/browser-cookie.ts.
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
} from '../grants/authorization-request.js'
import type { Client } from '../clients/registry.js'
import type { ServerContext } from '../context.js'
import { ensureBrowserId, readBrowserId } from '../lib/browser-cookie.js'
import { epochSeconds, hashHandle, randomHandle } from '../lib/crypto.js'
import { readParameters, splitScope, type Parameters } from '../lib/form.js'
import { storeUpgradedHash } from '../users/password-upgrades.js'
import { checkPassword, scryptCost } from '../users/passwords.js'
import { codeLifetime, isFapi2 } from '../profiles/fapi2.js'
import { insertCode } from '../storage/codes.js'
import type { AuthorizationRequestsTable } from '../storage/database.js'
import { insertGrant, listLiveGrantScopes } from '../storage/grants.js'
import {
  claimInteraction,
  closeInteraction,
  findInteraction,
  saveInteraction,
  setInteractionSubject,
} from '../storage/interactions.js'
import { takePushedRequest as takePushedRow } from '../storage/pushed-requests.js'
import { inTransaction } from '../storage/transaction.js'
import { findUser } from '../storage/users.js'
import { sendConsentPage, sendLoginPage } from '../views/send-page.js'
import { OAuthError, redirectError, setNoStore, showError, toOAuthError } from '../http/wire.js'
import { REQUEST_URI_PREFIX } from './par.js'
import { isAllowedRegisteredRedirect } from './register.js'

const INTERACTION_LIFETIME = 600

function clientLabel(client: Client): string {
  return client.client_name ?? client.client_id
}

// What both pages show: who asks, which server, where the form posts, which interaction.
function pageFields(
  ctx: ServerContext,
  found: { client: Client; interaction: string },
  action: 'login' | 'consent',
) {
  return {
    clientName: clientLabel(found.client),
    issuer: ctx.urls().issuer,
    action: ctx.urls()[action],
    interaction: found.interaction,
  }
}

function showLogin(
  ctx: ServerContext,
  reply: FastifyReply,
  found: { client: Client; interaction: string; redirectUri: string },
  error?: string,
): FastifyReply {
  const fields = pageFields(ctx, found, 'login')
  return sendLoginPage(
    reply,
    error === undefined ? fields : { ...fields, error },
    found.redirectUri,
  )
}

function showConsent(ctx: ServerContext, reply: FastifyReply, found: Interaction): FastifyReply {
  const fields = {
    ...pageFields(ctx, found, 'consent'),
    scopes: splitScope(found.parameters.scope),
  }
  return sendConsentPage(reply, fields, found.parameters.redirect_uri)
}

async function takePushedRequest(
  ctx: ServerContext,
  client: Client,
  requestUri: string,
): Promise<AuthorizationParameters> {
  // One-time use (RFC 9126 §7.3): the row is claimed by a compare-and-set.
  const parameters = await takePushedRow(ctx.db, {
    requestHash: hashHandle(requestUri),
    clientId: client.client_id,
    now: epochSeconds(ctx.now()),
  })
  if (!requestUri.startsWith(REQUEST_URI_PREFIX) || parameters === undefined) {
    throw new OAuthError(
      'invalid_request_uri',
      '"request_uri" is unknown, expired, used or issued to another client',
    )
  }
  return JSON.parse(parameters) as AuthorizationParameters
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

async function findRequestClient(ctx: ServerContext, params: Parameters): Promise<Client> {
  const client =
    params.client_id === undefined ? undefined : await ctx.clients.find(params.client_id)
  if (client === undefined)
    throw new OAuthError('invalid_request', '"client_id" is missing or unknown')
  return client
}

function answerRequestFailure(
  ctx: ServerContext,
  reply: FastifyReply,
  client: Client,
  failed: RequestFailure,
): FastifyReply {
  const failure = logged(ctx, failed.failure)
  if (!mayRedirectError(ctx, client, failed)) return showError(reply, failure)
  return redirectError(reply, failed.redirectUri, failure, {
    state: failed.state,
    issuer: issuerParameter(ctx),
  })
}

// Stores the sign-in row, bound to this browser's cookie; returns the interaction handle.
async function startInteraction(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  client: Client,
  authorization: AuthorizationParameters,
): Promise<string> {
  const interaction = randomHandle()
  await saveInteraction(ctx.db, {
    requestHash: hashHandle(interaction),
    clientId: client.client_id,
    parameters: JSON.stringify(authorization),
    browserHash: hashHandle(ensureBrowserId(request, reply, ctx.urls().issuer)),
    expiresAt: epochSeconds(ctx.now()) + INTERACTION_LIFETIME,
  })
  return interaction
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
    const client = await findRequestClient(ctx, params)
    const resolved = await resolveRequest(ctx, client, params)
    if ('failure' in resolved) return answerRequestFailure(ctx, reply, client, resolved)
    const authorization = resolved.parameters
    const interaction = await startInteraction(ctx, request, reply, client, authorization)
    return showLogin(ctx, reply, { client, interaction, redirectUri: authorization.redirect_uri })
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
  redirectUri: string
}

async function loadInteraction(
  ctx: ServerContext,
  request: FastifyRequest,
  params: Parameters,
): Promise<Interaction> {
  const interaction = params.interaction
  const row =
    interaction === undefined ? undefined : await findInteraction(ctx.db, hashHandle(interaction))
  const browser = readBrowserId(request)
  if (
    interaction === undefined ||
    row === undefined ||
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
  const parameters = JSON.parse(row.parameters) as AuthorizationParameters
  return { row, client, parameters, interaction, redirectUri: parameters.redirect_uri }
}

async function hasConsent(
  ctx: ServerContext,
  client: Client,
  subject: string,
  scope: string,
): Promise<boolean> {
  if (client.first_party) return true
  const grantedScopes = await listLiveGrantScopes(ctx.db, client.client_id, subject)
  const wanted = splitScope(scope)
  return grantedScopes.some((grantScope) => {
    const granted = new Set(splitScope(grantScope))
    return wanted.every((token) => granted.has(token))
  })
}

// Uses the interaction up and stores the grant and the code in one transaction; returns the
// code, or undefined when another request used the interaction first.
async function issueCode(
  ctx: ServerContext,
  found: Interaction,
  subject: string,
): Promise<string | undefined> {
  const { parameters, row } = found
  const now = epochSeconds(ctx.now())
  const code = randomHandle()
  const grantId = randomHandle(16)
  const issued = await inTransaction(ctx.db, async (trx) => {
    if (!(await claimInteraction(trx, row.request_hash, now))) return false
    await insertGrant(trx, {
      grant_id: grantId,
      client_id: parameters.client_id,
      subject,
      scope: parameters.scope,
      created_at: now,
      revoked_at: null,
    })
    await insertCode(trx, {
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
    return true
  })
  return issued ? code : undefined
}

function redirectWithCode(
  ctx: ServerContext,
  reply: FastifyReply,
  parameters: AuthorizationParameters,
  code: string,
): FastifyReply {
  const target = new URL(parameters.redirect_uri)
  target.searchParams.set('code', code)
  if (parameters.state !== undefined) target.searchParams.set('state', parameters.state)
  const issuer = issuerParameter(ctx)
  if (issuer !== undefined) target.searchParams.set('iss', issuer)
  setNoStore(reply)
  return reply.redirect(target.href, 303)
}

async function issueCodeAndRedirect(
  ctx: ServerContext,
  reply: FastifyReply,
  found: Interaction,
  subject: string,
): Promise<FastifyReply> {
  const code = await issueCode(ctx, found, subject)
  if (code === undefined)
    throw new OAuthError('invalid_request', 'this sign-in was already completed')
  return redirectWithCode(ctx, reply, found.parameters, code)
}

// The user whose password this is, or undefined for an unknown user or a wrong password (both
// cost one scrypt run). A hash below the current cost is replaced by a new one.
async function signInUser(
  ctx: ServerContext,
  params: Parameters,
): Promise<{ subject: string } | undefined> {
  const user = params.username === undefined ? undefined : await findUser(ctx.db, params.username)
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

// The subject who signed in, or undefined after a failed attempt. Counted before the password
// is checked (and refunded on success): a limited guesser learns nothing from further tries,
// however many it sends at once.
async function signIn(
  ctx: ServerContext,
  request: FastifyRequest,
  params: Parameters,
  found: Interaction,
): Promise<string | undefined> {
  const attempt = ctx.limits.beginLogin(params.username, request.ip)
  const user = await signInUser(ctx, params).catch((error: unknown) => {
    attempt.aborted()
    throw error
  })
  if (user === undefined) {
    attempt.failed()
    ctx.log.info({ client_id: found.client.client_id }, 'sign-in failed')
    return undefined
  }
  attempt.succeeded()
  return user.subject
}

// A form post of an interaction (sign-in, consent): read the form, load the interaction it
// names, run the step. A failure is shown as an error page, never redirected: until the
// interaction is loaded there is no redirect URI to trust.
async function answerInteraction(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  step: (params: Parameters, found: Interaction) => Promise<FastifyReply>,
): Promise<FastifyReply> {
  try {
    const params = readParameters(request.body, 'body')
    return await step(params, await loadInteraction(ctx, request, params))
  } catch (error) {
    return showError(reply, logged(ctx, toOAuthError(error)))
  }
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
  return answerInteraction(ctx, request, reply, async (params, found) => {
    if (found.row.subject !== null)
      throw new OAuthError('invalid_request', 'already signed in for this request')
    const subject = await signIn(ctx, request, params, found)
    if (subject === undefined) return showLogin(ctx, reply, found, 'Invalid username or password.')
    if (await hasConsent(ctx, found.client, subject, found.parameters.scope))
      return await issueCodeAndRedirect(ctx, reply, found, subject)
    await setInteractionSubject(ctx.db, found.row.request_hash, subject)
    return showConsent(ctx, reply, found)
  })
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
  return answerInteraction(ctx, request, reply, async (params, found) => {
    if (found.row.subject === null) throw new OAuthError('invalid_request', 'sign in first')
    if (params.decision === 'allow')
      return await issueCodeAndRedirect(ctx, reply, found, found.row.subject)
    await closeInteraction(ctx.db, found.row.request_hash, epochSeconds(ctx.now()))
    return redirectError(
      reply,
      found.parameters.redirect_uri,
      new OAuthError('access_denied', 'the user denied the request'),
      {
        state: found.parameters.state,
        issuer: issuerParameter(ctx),
      },
    )
  })
}
