/**
 * `verifyRequest`: the resource-server side of RFC 9449 §7 and §9. It finds the access token,
 * validates it, verifies the proof against the token (`ath`, `cnf.jkt`) and the URL the server
 * was reached at, checks the route's scopes, and returns a verdict. It decides; the wire shape
 * of every outcome comes from `challenges.ts`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import {
  createNonceSource,
  DPoPError,
  InvalidArgument,
  KeyBindingMismatch,
  MemoryReplayStore,
  NonceRequired,
  ProofTimeInvalid,
  ReplayStoreUnavailable,
  verifyProof,
  type NonceSource,
  type ReplayStore,
} from '@keybound/core'
import { invalidArgument, SUPPORTED_ALGORITHMS } from '@keybound/core/internal'
import {
  acceptanceHeaders,
  describeCoreError,
  rejectBearer,
  rejectBoundTokenAsBearer,
  rejectClaimCheck,
  rejectInsufficientScope,
  rejectInvalidProof,
  rejectInvalidToken,
  rejectKeyBinding,
  rejectMalformedAuthorization,
  rejectMultipleMethods,
  rejectNoCredentials,
  rejectNonceRequired,
  rejectTokenNotBound,
  rejectUnavailable,
  rejectUnsupportedTarget,
  REJECTION_CODES,
  type ChallengeContext,
} from './challenges.js'
import { findCredentials, hasFormBody, type Credential } from './credentials.js'
import { AccessTokenInvalid, AccessTokenUnavailable, type AccessTokenError } from './errors.js'
import { hashToken } from './lib/token-cache.js'
import { expectedUrl, parsePublicBaseUrl, pathOf, type PublicBase } from './expected-url.js'
import { readHeader, readHeaderValues, trimOws } from './lib/headers.js'
import { checkResourceMetadataUrl } from './resource-metadata.js'
import { checkRouteOptions, type CheckedRouteOptions } from './route-options.js'
import type {
  AccessTokenInfo,
  AccessTokenValidator,
  OutcomeEvent,
  Rejection,
  RequestLike,
  ResourceServer,
  ResourceServerOptions,
  RouteOptions,
  Verdict,
  VerifiedIdentity,
} from './types.js'

interface Settings {
  readonly base: PublicBase
  readonly trustProxy: boolean
  readonly accessTokens: AccessTokenValidator
  readonly replayStore: ReplayStore
  readonly nonces?: NonceSource
  readonly allowBearer: boolean
  readonly algorithms: readonly string[]
  readonly algs: string
  readonly maxAge?: number
  readonly clockTolerance?: number
  readonly requireIat: boolean
  readonly maxClockSkew?: number
  readonly realm?: string
  readonly resourceMetadataUrl?: string
  readonly onOutcome?: (event: OutcomeEvent) => void
  readonly allowInsecureHttp: boolean
  readonly offloadSignature: boolean
  readonly now?: () => number
}

/** A verdict plus what the outcome event needs to know about it. */
interface Decision {
  verdict: Verdict<Record<string, unknown>, boolean>
  claim?: string
  detail?: string
  nonceRotated?: boolean
}

// RFC 9110 quoted-string content without quotes, backslashes or controls.
const REALM = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/

function isNonceSource(value: unknown): value is NonceSource {
  return (
    typeof (value as NonceSource).issueNonce === 'function' &&
    typeof (value as NonceSource).checkNonce === 'function'
  )
}

function nonceSourceOf(options: ResourceServerOptions): NonceSource | undefined {
  const nonces = options.nonces
  if (nonces === undefined) return undefined
  if (isNonceSource(nonces)) return nonces
  // Purpose `rs`: nonces minted by an authorization server with the same secret fail here (§9).
  return createNonceSource({
    secret: nonces.secret,
    purpose: 'rs',
    ...(nonces.stepSeconds === undefined ? {} : { stepSeconds: nonces.stepSeconds }),
    ...(options.now === undefined ? {} : { now: options.now }),
  })
}

function checkAlgorithms(algorithms: readonly string[] | undefined): readonly string[] {
  const chosen = algorithms ?? SUPPORTED_ALGORITHMS
  if (!Array.isArray(chosen) || chosen.length === 0)
    throw invalidArgument('algorithms', 'a non-empty array')
  chosen.forEach((alg, i) => {
    if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg))
      throw invalidArgument(`algorithms[${i}]`, `one of ${SUPPORTED_ALGORITHMS.join(', ')}`)
  })
  return Object.freeze([...chosen])
}

function checkMaxClockSkew(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw invalidArgument('maxClockSkew', 'a non-negative number of seconds')
  return value
}

function checkOptions(options: ResourceServerOptions): Settings {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  if (typeof options.accessTokens?.validate !== 'function')
    throw invalidArgument('accessTokens', 'an AccessTokenValidator (with a validate method)')
  if (
    options.realm !== undefined &&
    (typeof options.realm !== 'string' || !REALM.test(options.realm))
  ) {
    throw invalidArgument('realm', 'printable ASCII without quotes or backslashes')
  }
  if (
    options.replayStore !== undefined &&
    typeof options.replayStore?.checkAndRecord !== 'function'
  ) {
    throw invalidArgument('replayStore', 'a ReplayStore')
  }
  const algorithms = checkAlgorithms(options.algorithms)
  const settings: Settings = {
    base: parsePublicBaseUrl(options.publicBaseUrl, options.allowInsecureHttp === true),
    trustProxy: options.trustProxy === true,
    accessTokens: options.accessTokens,
    replayStore: options.replayStore ?? new MemoryReplayStore(),
    allowBearer: options.allowBearer === true,
    algorithms,
    algs: algorithms.join(' '),
    allowInsecureHttp: options.allowInsecureHttp === true,
    offloadSignature: options.offloadSignature !== false,
    requireIat: options.requireIat === true,
  }
  const optional: Partial<Record<keyof Settings, unknown>> = {
    nonces: nonceSourceOf(options),
    maxAge: options.maxAge,
    clockTolerance: options.clockTolerance,
    maxClockSkew: checkMaxClockSkew(options.maxClockSkew),
    realm: options.realm,
    resourceMetadataUrl:
      options.resourceMetadataUrl === undefined
        ? undefined
        : checkResourceMetadataUrl(options.resourceMetadataUrl, options.allowInsecureHttp === true),
    onOutcome: options.onOutcome,
    now: options.now,
  }
  for (const [key, value] of Object.entries(optional))
    if (value !== undefined) Object.assign(settings, { [key]: value })
  return settings
}

/**
 * The challenge contexts a resource server needs, built once: a context depends on the request
 * only through whether it is a CORS request. `fallback` (no realm, no CORS) answers a request
 * whose headers could not even be read.
 */
interface ChallengeContexts {
  readonly plain: ChallengeContext
  readonly cors: ChallengeContext
  readonly fallback: ChallengeContext
}

function challengeContextsOf(settings: Settings): ChallengeContexts {
  const common = {
    algs: settings.algs,
    bearerOffered: settings.allowBearer,
    ...(settings.resourceMetadataUrl === undefined
      ? {}
      : { resourceMetadata: settings.resourceMetadataUrl }),
  }
  const realm = settings.realm === undefined ? {} : { realm: settings.realm }
  return {
    plain: Object.freeze({ ...common, ...realm, cors: false }),
    cors: Object.freeze({ ...common, ...realm, cors: true }),
    fallback: Object.freeze({ ...common, cors: false }),
  }
}

function contextOf(contexts: ChallengeContexts, request: RequestLike): ChallengeContext {
  return readHeader(request.headers, 'origin') === undefined ? contexts.plain : contexts.cors
}

// The log detail of a refused token: the values compared where the validator gave them
// (`details.description`), else its stable `reason`.
function describeTokenError(error: AccessTokenError): string | undefined {
  const description = error.details?.['description']
  return typeof description === 'string' ? description : error.reason
}

type TokenResult = { info: AccessTokenInfo } | { decision: Decision }

async function validateToken(
  settings: Settings,
  context: ChallengeContext,
  credential: Credential,
  tokenHash: string,
): Promise<TokenResult> {
  try {
    return { info: await settings.accessTokens.validate(credential.token, { tokenHash }) }
  } catch (error) {
    if (error instanceof AccessTokenUnavailable) {
      const detail = describeTokenError(error)
      return {
        decision: {
          verdict: rejectUnavailable(context, error.code),
          ...(detail === undefined ? {} : { detail }),
        },
      }
    }
    // Any other failure of a validator, ours or custom, refuses the token: fail closed.
    const detail =
      error instanceof AccessTokenInvalid ? describeTokenError(error) : 'validator error'
    return {
      decision: {
        verdict: rejectInvalidToken(context, credential.scheme),
        ...(detail ? { detail } : {}),
      },
    }
  }
}

function hasConfirmation(info: AccessTokenInfo): boolean {
  const cnf = info.claims.cnf
  return (
    info.jkt !== undefined ||
    (typeof cnf === 'object' && cnf !== null && Object.keys(cnf).length > 0)
  )
}

function holdsScopes(info: AccessTokenInfo, route: CheckedRouteOptions): boolean {
  const held = (scope: string) => info.scope.includes(scope)
  if (route.scopes.length === 0) return true
  return route.scopeMatch === 'any' ? route.scopes.some(held) : route.scopes.every(held)
}

function claimIncludes(value: unknown, wanted: readonly string[]): boolean {
  const members =
    typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : undefined
  return members !== undefined && wanted.every((item) => members.includes(item))
}

async function passesClaimChecks(
  info: AccessTokenInfo,
  route: CheckedRouteOptions,
): Promise<boolean> {
  const { claims } = info
  const { equals = {}, includes = {}, check } = route.claims
  if (!Object.entries(equals).every(([name, value]) => claims[name] === value)) return false
  if (!Object.entries(includes).every(([name, wanted]) => claimIncludes(claims[name], wanted)))
    return false
  if (check === undefined) return true
  try {
    return (await check(claims)) === true
  } catch {
    // A predicate that fails cannot vouch for the token: refuse (fail closed).
    return false
  }
}

function hasClaimChecks(route: CheckedRouteOptions): boolean {
  const { equals, includes, check } = route.claims
  return equals !== undefined || includes !== undefined || check !== undefined
}

/** The route's scopes, once the token itself was accepted (checked before its claims). */
function refuseScopes(
  context: ChallengeContext,
  scheme: 'DPoP' | 'Bearer',
  info: AccessTokenInfo,
  route: CheckedRouteOptions,
): Rejection | undefined {
  return holdsScopes(info, route)
    ? undefined
    : rejectInsufficientScope(context, scheme, route.scopes)
}

/** The route's claim checks (D26); only awaited on routes that have some. */
async function refuseClaims(
  context: ChallengeContext,
  scheme: 'DPoP' | 'Bearer',
  info: AccessTokenInfo,
  route: CheckedRouteOptions,
): Promise<Rejection | undefined> {
  return (await passesClaimChecks(info, route)) ? undefined : rejectClaimCheck(context, scheme)
}

function identityOf(
  info: AccessTokenInfo,
  tokenType: 'DPoP' | 'Bearer',
  jkt: string,
): VerifiedIdentity {
  const identity: VerifiedIdentity = { scope: [...info.scope], jkt, claims: info.claims, tokenType }
  if (info.subject !== undefined) identity.subject = info.subject
  if (info.clientId !== undefined) identity.clientId = info.clientId
  return identity
}

async function decideBearer(
  settings: Settings,
  context: ChallengeContext,
  credential: Credential,
  route: CheckedRouteOptions,
): Promise<Decision> {
  if (!settings.allowBearer) return { verdict: rejectBearer(context) }
  const token = await validateToken(
    settings,
    context,
    credential,
    await hashToken(credential.token),
  )
  if ('decision' in token) return token.decision
  // §7.2 MUST: a bound token (any `cnf`, also without `token_type`) is never a bearer token.
  if (hasConfirmation(token.info)) return { verdict: rejectBoundTokenAsBearer(context) }
  const refusal =
    refuseScopes(context, 'Bearer', token.info, route) ??
    (hasClaimChecks(route) ? await refuseClaims(context, 'Bearer', token.info, route) : undefined)
  if (refusal !== undefined) return { verdict: refusal }
  return {
    verdict: {
      ok: true,
      identity: identityOf(token.info, 'Bearer', ''),
      responseHeaders: acceptanceHeaders(context),
    },
  }
}

type ProofHeader = { proof: string } | { decision: Decision }

// §4.3 items 1–2: exactly one DPoP field line with one value; a comma means lines were combined.
function readProof(request: RequestLike, context: ChallengeContext): ProofHeader {
  const values = readHeaderValues(request.headers, 'dpop')
  if (values.length === 0)
    return { decision: { verdict: rejectInvalidProof(context, REJECTION_CODES.proofMissing) } }
  if (values.length > 1 || values[0]!.includes(',')) {
    return { decision: { verdict: rejectInvalidProof(context, REJECTION_CODES.multipleProofs) } }
  }
  return { proof: trimOws(values[0]!) }
}

async function rejectProofError(
  settings: Settings,
  context: ChallengeContext,
  error: unknown,
): Promise<Decision> {
  if (!(error instanceof DPoPError) || error instanceof InvalidArgument) {
    return { verdict: rejectUnavailable(context, REJECTION_CODES.internal) }
  }
  const { code, claim, detail } = describeCoreError(error)
  const details = {
    ...(claim === undefined ? {} : { claim }),
    ...(detail === undefined ? {} : { detail }),
  }
  if (error instanceof ReplayStoreUnavailable)
    return { verdict: rejectUnavailable(context, code), ...details }
  if (error instanceof KeyBindingMismatch)
    return { verdict: rejectKeyBinding(context, code), ...details }
  // With nonces on, a bad clock is answered with a nonce so the client can recover (D6). An `iat`
  // that is implausible beside a valid nonce would fail again with a fresh one: no nonce then.
  if (
    settings.nonces !== undefined &&
    (error instanceof NonceRequired ||
      (error instanceof ProofTimeInvalid && error.reason !== 'implausible'))
  ) {
    return {
      verdict: rejectNonceRequired(context, await settings.nonces.issueNonce(), code),
      ...details,
    }
  }
  return { verdict: rejectInvalidProof(context, code, claim), ...details }
}

/**
 * The access token's side of one DPoP request: validated only when core asks for its binding,
 * that is after the proof passed every check that does not need the token, so a junk token
 * with an unsound proof costs no introspection call and no JWKS fetch.
 */
interface TokenBinding {
  info?: AccessTokenInfo
  /** Why the token was refused, when it was: this verdict wins over the proof's error. */
  refusal?: Decision
}

async function bindToken(
  settings: Settings,
  context: ChallengeContext,
  credential: Credential,
  tokenHash: string,
  binding: TokenBinding,
): Promise<string> {
  const token = await validateToken(settings, context, credential, tokenHash)
  if ('decision' in token) binding.refusal = token.decision
  // RS17 / D13 (RFC 9449 §7.1): an unbound token has no key to check the proof against.
  else if (token.info.jkt === undefined) binding.refusal = { verdict: rejectTokenNotBound(context) }
  else {
    binding.info = token.info
    return token.info.jkt
  }
  // Ends verification before the replay record; decideDPoP answers with `binding.refusal`.
  throw new AccessTokenInvalid('access token refused', { reason: 'refused' })
}

async function decideDPoP(
  settings: Settings,
  request: RequestLike,
  context: ChallengeContext,
  credential: Credential,
  route: CheckedRouteOptions,
): Promise<Decision> {
  const header = readProof(request, context)
  if ('decision' in header) return header.decision
  const url = expectedUrl(request, settings.base, settings.trustProxy)
  if (url === undefined) return { verdict: rejectUnsupportedTarget(context) }
  // Hashed once: the validators' cache key and the proof's `ath` are the same value.
  const tokenHash = await hashToken(credential.token)
  const binding: TokenBinding = {}

  let rotate: boolean
  let jkt: string
  try {
    const verified = await verifyProof(
      header.proof,
      { method: request.method, url },
      // One object shape for every request (unset options stay `undefined`, as core allows).
      {
        replayStore: settings.replayStore,
        accessToken: credential.token,
        accessTokenHash: tokenHash,
        resolveExpectedJkt: () => bindToken(settings, context, credential, tokenHash, binding),
        algorithms: settings.algorithms,
        allowInsecureHttp: settings.allowInsecureHttp,
        offloadSignature: settings.offloadSignature,
        nonce: settings.nonces,
        maxAge: settings.maxAge,
        clockTolerance: settings.clockTolerance,
        requireIat: settings.requireIat,
        maxClockSkew: settings.maxClockSkew,
        now: settings.now,
      },
    )
    rotate = verified.rotateNonce
    jkt = verified.jkt
  } catch (error) {
    return binding.refusal ?? rejectProofError(settings, context, error)
  }
  const info = binding.info!
  const refusal =
    refuseScopes(context, 'DPoP', info, route) ??
    (hasClaimChecks(route) ? await refuseClaims(context, 'DPoP', info, route) : undefined)
  if (refusal !== undefined) return { verdict: refusal }
  const nonce =
    rotate && settings.nonces !== undefined ? await settings.nonces.issueNonce() : undefined
  return {
    verdict: {
      ok: true,
      identity: identityOf(info, 'DPoP', jkt),
      responseHeaders: acceptanceHeaders(context, nonce),
    },
    nonceRotated: nonce !== undefined,
  }
}

// D28: only a request with no credentials at all is anonymous. `findCredentials` found no token
// (header, query or form); a lone DPoP proof or an Authorization of any scheme is a credential
// too (or a broken one) and is judged as on any other route.
function isAnonymous(request: RequestLike): boolean {
  return (
    readHeader(request.headers, 'authorization') === undefined &&
    readHeaderValues(request.headers, 'dpop').length === 0
  )
}

async function decide(
  settings: Settings,
  request: RequestLike,
  context: ChallengeContext,
  routeOptions: RouteOptions | undefined,
): Promise<Decision> {
  const route = checkRouteOptions(routeOptions)
  const search = findCredentials(request)
  switch (search.kind) {
    case 'none':
      if (!route.credentialsRequired && isAnonymous(request)) {
        return {
          verdict: { ok: true, identity: undefined, responseHeaders: acceptanceHeaders(context) },
        }
      }
      return { verdict: rejectNoCredentials(context) }
    case 'multiple':
      return { verdict: rejectMultipleMethods(context) }
    case 'malformed':
      return { verdict: rejectMalformedAuthorization(context, search.scheme) }
  }
  const { credential } = search
  return credential.scheme === 'DPoP'
    ? decideDPoP(settings, request, context, credential, route)
    : decideBearer(settings, context, credential, route)
}

// A form token alone can only be refused unless Bearer tokens are accepted, so the body then
// matters only beside another credential (two methods: 400 instead of using the other one),
// or on an optional route, where it is the difference between anonymous and refused (D28).
function needsFormBody(
  settings: Settings,
  request: RequestLike,
  routeOptions: Pick<RouteOptions, 'credentialsRequired'> | undefined,
): boolean {
  if (!hasFormBody(request)) return false
  return (
    settings.allowBearer ||
    routeOptions?.credentialsRequired === false ||
    findCredentials(request).kind !== 'none'
  )
}

function outcomeOf(request: RequestLike, decision: Decision): OutcomeEvent {
  const method = typeof request.method === 'string' ? request.method : ''
  const path = (typeof request.url === 'string' ? pathOf(request.url) : undefined) ?? ''
  const { verdict } = decision
  if (verdict.ok && verdict.identity === undefined) return { outcome: 'anonymous', method, path }
  if (verdict.ok) {
    const { identity } = verdict
    return {
      outcome: 'accepted',
      method,
      path,
      tokenType: identity.tokenType,
      jkt: identity.jkt,
      ...(identity.subject === undefined ? {} : { subject: identity.subject }),
      ...(identity.clientId === undefined ? {} : { clientId: identity.clientId }),
      nonceRotated: decision.nonceRotated === true,
    }
  }
  return {
    outcome: 'rejected',
    method,
    path,
    status: verdict.status,
    error: verdict.error,
    reason: verdict.code ?? REJECTION_CODES.internal,
    ...(decision.claim === undefined ? {} : { claim: decision.claim }),
    ...(decision.detail === undefined ? {} : { detail: decision.detail }),
  }
}

function emit(settings: Settings, request: RequestLike, decision: Decision): void {
  if (settings.onOutcome === undefined) return
  try {
    settings.onOutcome(outcomeOf(request, decision))
  } catch {
    // A metrics or logging hook must never change (or break) the verdict.
  }
}

/**
 * Builds a resource server: one per API. Options are validated here (it throws at once).
 * `verifyRequest` then never throws; every failure is a rejection verdict with the exact
 * status, error and headers to send.
 *
 * @example
 * ```ts
 * import { createResourceServer, jwtAccessTokens } from '@keybound/server'
 *
 * const resourceServer = createResourceServer({
 *   publicBaseUrl: 'https://api.example.com',
 *   accessTokens: jwtAccessTokens({
 *     issuer: 'https://as.example.com',
 *     audience: 'https://api.example.com',
 *     jwksUri: 'https://as.example.com/jwks',
 *   }),
 *   nonces: { secret: process.env.DPOP_NONCE_SECRET! },
 * })
 * const verdict = await resourceServer.verifyRequest(request, { scopes: ['read'] })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9
 */
export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const settings = checkOptions(options)
  const contexts = challengeContextsOf(settings)
  async function verifyRequest(
    request: RequestLike,
    routeOptions?: RouteOptions,
  ): Promise<Verdict<Record<string, unknown>, boolean>> {
    let context = contexts.fallback
    let decision: Decision
    try {
      context = contextOf(contexts, request)
      decision = await decide(settings, request, context, routeOptions)
    } catch {
      // Unexpected input or a bug: fail closed, never crash the caller and never accept.
      decision = { verdict: rejectUnavailable(context, REJECTION_CODES.internal) }
    }
    emit(settings, request, decision)
    return decision.verdict
  }
  return {
    algorithms: settings.algorithms,
    needsFormBody: (request, routeOptions) => needsFormBody(settings, request, routeOptions),
    // The claims type is the caller's assertion, and an anonymous verdict only comes back when
    // the caller asked for `credentialsRequired: false`: the cast states both.
    verifyRequest: verifyRequest as ResourceServer['verifyRequest'],
  }
}
