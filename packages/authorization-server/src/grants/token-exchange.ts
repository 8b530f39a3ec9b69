/**
 * The token-exchange grant (RFC 8693) that never drops the DPoP binding: the request must carry
 * a proof, and the issued access token is bound (`cnf.jkt`, RFC 9449 §6.1) to that proof's key
 * whatever the client's other settings say. A bound subject token is exchanged by its holder
 * (proof key = its `cnf.jkt`) or, on its behalf, by a client its `may_act` names or an operator
 * delegation rule allows; the actor then appears in `act`, nested up to `maxActDepth`.
 *
 * Errors follow RFC 8693 §2.2.2: a subject or actor token that is invalid or unacceptable by
 * policy is `invalid_request`; a target outside the policy is `invalid_target`; a wider scope
 * is `invalid_scope` (RFC 6749 §5.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2
 * @packageDocumentation
 */
import type { VerifiedProof } from '@keybound/core'
import type { Client } from '../clients/registry.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, randomHandle } from '../lib/crypto.js'
import { requireParameter, splitScope, type Parameters } from '../lib/form.js'
import { findResource } from '../tokens/resources.js'
import { signJwt } from '../keys/signing-keys.js'
import { isJtiDenied } from '../storage/access-tokens.js'
import type { DelegationRule } from './token-exchange-config.js'
import { inspectToken } from '../tokens/inspect.js'
import { OAuthError } from '../http/wire.js'
import { decodeSegment } from '../jwt/segments.js'
import { verifyTrustedJwt } from './trusted-issuers.js'

/**
 * Token type identifiers of RFC 8693 §3.
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-3
 */
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const

/**
 * A token exchange response (RFC 8693 §2.2.1).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1
 */
export interface ExchangeResponse {
  access_token: string
  issued_token_type: string
  token_type: 'DPoP'
  expires_in: number
  scope?: string
}

/**
 * What the grant needs from the token endpoint (RFC 8693 §2.1 request).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export interface ExchangeInput {
  ctx: ServerContext
  client: Client
  params: Parameters
  proof: VerifiedProof | undefined
}

/** A subject (or actor) token after its checks. */
interface PresentedToken {
  /** `true` for a token of this server. */
  local: boolean
  subject: string
  /** `client_id` (or `azp`) it was issued to. */
  clientId: string | undefined
  scope: string[]
  audiences: string[]
  exp: number
  jkt: string | undefined
  mayAct: unknown
  act: Record<string, unknown> | undefined
  /** `jti` of a JWT of this server, for the revocation check of a remembered token. */
  jti?: string
}

/**
 * This server's JWT subject tokens whose signature was checked, by their text, until they
 * expire. A service often exchanges the token it received once per downstream call; only the
 * signature check is skipped for it, never the expiry or revocation check (as the resource
 * server does, ADR 0015). Bounded: the oldest entry goes when it is full.
 */
const REMEMBERED_MAX = 10_000
const remembered = new WeakMap<ServerContext, Map<string, PresentedToken>>()

function rememberedFor(ctx: ServerContext): Map<string, PresentedToken> {
  let map = remembered.get(ctx)
  if (map === undefined) remembered.set(ctx, (map = new Map()))
  return map
}

function remember(ctx: ServerContext, token: string, presented: PresentedToken): void {
  const map = rememberedFor(ctx)
  if (map.size >= REMEMBERED_MAX) map.delete(map.keys().next().value!)
  map.set(token, presented)
}

// A remembered token still needs to be unexpired and not revoked; otherwise it is forgotten.
async function recall(ctx: ServerContext, token: string): Promise<PresentedToken | undefined> {
  const map = rememberedFor(ctx)
  const known = map.get(token)
  if (known === undefined) return undefined
  if (known.exp <= epochSeconds(ctx.now()) || (await isJtiDenied(ctx.db, known.jti!))) {
    map.delete(token)
    return undefined
  }
  return known
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const ACCEPTED_TYPES: readonly string[] = [TOKEN_TYPES.accessToken, TOKEN_TYPES.jwt]

function refuse(description: string): OAuthError {
  return new OAuthError('invalid_request', description)
}

function checkTokenType(type: string, name: string): void {
  if (type === TOKEN_TYPES.refreshToken)
    throw refuse(`"${name}" refresh_token is not accepted: only access tokens are exchanged`)
  if (!ACCEPTED_TYPES.includes(type))
    throw refuse(`"${name}" is not a supported token type (access_token or jwt)`)
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}

// How many `act` claims are nested in `act` (0 for none); stops counting past `limit`.
function actDepth(act: Record<string, unknown> | undefined, limit: number): number {
  let depth = 0
  for (let node = act; node !== undefined && depth <= limit; node = asObject(node.act)) depth++
  return depth
}

async function readLocalToken(
  ctx: ServerContext,
  token: string,
  payload: Record<string, unknown> = {},
): Promise<PresentedToken> {
  const known = await recall(ctx, token)
  if (known !== undefined) return known
  const info = await inspectToken(ctx, token)
  if (info === undefined) throw refuse('subject_token is invalid, expired or revoked')
  if (info.kind === 'refresh_token')
    throw refuse('subject_token is a refresh token: only access tokens are exchanged')
  // inspectToken checked signature, issuer, expiry and revocation: the payload can be trusted.
  const claims = payload
  const presented: PresentedToken = {
    local: true,
    subject: info.sub,
    clientId: info.client_id,
    scope: splitScope(info.scope),
    audiences: info.aud === undefined ? [] : [info.aud],
    exp: info.exp,
    jkt: info.jkt,
    mayAct: claims.may_act,
    act: asObject(claims.act),
    ...(info.jti === undefined ? {} : { jti: info.jti }),
  }
  if (JWT_SHAPE.test(token) && info.jti !== undefined) remember(ctx, token, presented)
  return presented
}

async function readTrustedToken(
  ctx: ServerContext,
  token: string,
  iss: unknown,
  type: string,
): Promise<PresentedToken> {
  const issuer = ctx.config.tokenExchange.trustedIssuers.find((entry) => entry.issuer === iss)
  if (issuer === undefined)
    throw refuse('subject_token is not from this server or a trusted issuer')
  const { claims } = await verifyTrustedJwt(
    issuer,
    token,
    ctx.urls().issuer,
    ctx.now(),
    type === TOKEN_TYPES.accessToken,
  )
  const cnf = asObject(claims.cnf)
  const clientId = claims.client_id ?? claims.azp
  return {
    local: false,
    // Another issuer's names must not pass for this server's: its users and clients are
    // namespaced (the prefix defaults to `<issuer>#`), so a partner's "alice" is not ours.
    subject: `${issuer.subjectPrefix}${claims.sub as string}`,
    clientId: typeof clientId === 'string' ? `${issuer.issuer}#${clientId}` : undefined,
    scope: typeof claims.scope === 'string' ? splitScope(claims.scope) : [],
    audiences: [],
    exp: claims.exp as number,
    jkt: typeof cnf?.jkt === 'string' ? cnf.jkt : undefined,
    mayAct: claims.may_act,
    act: asObject(claims.act),
  }
}

/**
 * Reads and checks a presented token: one of this server's access tokens (JWT or opaque;
 * signature, expiry and revocation), or a trusted issuer's JWT access token.
 */
async function readPresentedToken(
  ctx: ServerContext,
  token: string,
  type: string,
): Promise<PresentedToken> {
  if (!JWT_SHAPE.test(token)) return readLocalToken(ctx, token)
  // Decoded once, unchecked, only to pick the issuer whose keys check it.
  const payload = decodeSegment(token.split('.')[1]!)
  if (payload?.iss === ctx.urls().issuer) return readLocalToken(ctx, token, payload)
  return readTrustedToken(ctx, token, payload?.iss, type)
}

// RFC 8693 §4.4: `may_act` names the party allowed to act; a client is named by client_id, or
// by sub when the claim is about this server's clients.
function mayActNames(ctx: ServerContext, mayAct: unknown, clientId: string): boolean {
  const claim = asObject(mayAct)
  if (claim === undefined) return false
  if (claim.client_id === clientId) return true
  return claim.sub === clientId && (claim.iss === undefined || claim.iss === ctx.urls().issuer)
}

function findRule(
  ctx: ServerContext,
  client: Client,
  subject: PresentedToken,
): DelegationRule | undefined {
  return ctx.config.tokenExchange.delegation.find(
    (rule) =>
      rule.actor === client.client_id &&
      // `*` is any client of this server; another issuer's clients are named one by one.
      ((rule.subjectClients.includes('*') && subject.local) ||
        (subject.clientId !== undefined && rule.subjectClients.includes(subject.clientId))),
  )
}

/** Who acts: the holder itself, or a delegated actor with the rule that allowed it (if any). */
interface Acting {
  holder: boolean
  rule: DelegationRule | undefined
  act: Record<string, unknown> | undefined
}

async function readActor(
  ctx: ServerContext,
  params: Parameters,
  proof: VerifiedProof,
  client: Client,
): Promise<string> {
  const token = params.actor_token
  const type = params.actor_token_type
  if (token === undefined && type === undefined) return client.client_id
  if (token === undefined) throw refuse('"actor_token_type" is sent without "actor_token"')
  if (type === undefined) throw refuse('"actor_token_type" is required with "actor_token"')
  checkTokenType(type, 'actor_token_type')
  const actor = await readPresentedToken(ctx, token, type)
  // The actor token must be the requesting client's own, held with the proof's key.
  if (!actor.local || actor.clientId !== client.client_id || actor.jkt !== proof.jkt)
    throw refuse('actor_token is not an access token of this client bound to the proof key')
  return actor.subject
}

function decideActing(
  ctx: ServerContext,
  client: Client,
  subject: PresentedToken,
  proof: VerifiedProof,
  actorSubject: string,
): Acting {
  const holder = subject.jkt !== undefined && subject.jkt === proof.jkt
  if (holder && actorSubject === client.client_id)
    return { holder, rule: undefined, act: subject.act }
  const rule = findRule(ctx, client, subject)
  if (rule === undefined && !mayActNames(ctx, subject.mayAct, client.client_id)) {
    throw refuse(
      subject.jkt === undefined
        ? 'subject_token is not DPoP-bound and this client may not act for it'
        : 'subject_token is bound to another key and this client may not act for it',
    )
  }
  const act = { sub: actorSubject, ...(subject.act === undefined ? {} : { act: subject.act }) }
  const limit = ctx.config.tokenExchange.maxActDepth
  if (actDepth(act, limit) > limit)
    throw refuse(`the delegation chain would nest "act" deeper than ${limit}`)
  return { holder, rule, act }
}

function chooseTarget(
  ctx: ServerContext,
  params: Parameters,
  subject: PresentedToken,
  acting: Acting,
): string {
  const { resource, audience } = params
  if (resource !== undefined) findResource(ctx.config, resource)
  if (resource !== undefined && audience !== undefined && resource !== audience)
    throw new OAuthError(
      'invalid_target',
      'one target per exchange: "resource" and "audience" differ',
    )
  const target = resource ?? audience ?? subject.audiences[0]
  if (target === undefined)
    throw new OAuthError('invalid_target', '"audience" or "resource" is required for this exchange')
  const allowed =
    acting.rule !== undefined
      ? acting.rule.audiences
      : [
          ...ctx.config.tokenExchange.audiences,
          ...ctx.config.resources.map((entry) => entry.identifier),
          ...(acting.holder && subject.local ? subject.audiences : []),
        ]
  if (!allowed.includes(target))
    throw new OAuthError('invalid_target', 'the requested target is outside the exchange policy')
  return target
}

function chooseScope(params: Parameters, subject: PresentedToken, acting: Acting): string {
  const ruleScope = acting.rule?.scope
  const ceiling =
    ruleScope === undefined
      ? subject.scope
      : subject.scope.filter((token) => splitScope(ruleScope).includes(token))
  if (params.scope === undefined) return ceiling.join(' ')
  const requested = splitScope(params.scope)
  if (requested.some((token) => !ceiling.includes(token)))
    throw new OAuthError('invalid_scope', 'requested scope is wider than the subject token allows')
  return requested.join(' ')
}

function chooseIssuedType(params: Parameters): string {
  const requested = params.requested_token_type ?? TOKEN_TYPES.accessToken
  if (!ACCEPTED_TYPES.includes(requested))
    throw refuse('"requested_token_type" must be access_token or jwt: nothing else is issued')
  return requested
}

/**
 * Runs the token-exchange grant. The proof is required even when `dpop.required` is off and
 * even for a client with `bearer_access_tokens`: an exchanged token is always bound to the
 * proof's key, and never outlives its subject token.
 * @example
 * ```ts
 * const body = await exchangeToken({ ctx, client, params, proof })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export async function exchangeToken({
  ctx,
  client,
  params,
  proof,
}: ExchangeInput): Promise<ExchangeResponse> {
  if (proof === undefined)
    throw refuse('a DPoP proof is required for token exchange: the issued token is bound to it')
  const subjectToken = requireParameter(params, 'subject_token')
  const subjectType = requireParameter(params, 'subject_token_type')
  checkTokenType(subjectType, 'subject_token_type')
  const issuedType = chooseIssuedType(params)
  const subject = await readPresentedToken(ctx, subjectToken, subjectType)
  const actorSubject = await readActor(ctx, params, proof, client)
  const acting = decideActing(ctx, client, subject, proof, actorSubject)
  const audience = chooseTarget(ctx, params, subject, acting)
  const scope = chooseScope(params, subject, acting)
  const iat = epochSeconds(ctx.now())
  // Whole seconds: another issuer's `exp` may carry a fraction (RFC 7519 §2 NumericDate).
  const exp = Math.min(iat + ctx.config.accessTokens.lifetime, Math.floor(subject.exp))
  const payload: Record<string, unknown> = {
    iss: ctx.urls().issuer,
    sub: subject.subject,
    aud: audience,
    client_id: client.client_id,
    iat,
    exp,
    jti: randomHandle(16),
    ...(scope === '' ? {} : { scope }),
    cnf: { jkt: proof.jkt },
    ...(acting.act === undefined ? {} : { act: acting.act }),
  }
  const accessToken = await signJwt(ctx.keys().active, 'at+jwt', payload)
  return {
    access_token: accessToken,
    issued_token_type: issuedType,
    token_type: 'DPoP',
    expires_in: exp - iat,
    ...(scope === '' ? {} : { scope }),
  }
}
