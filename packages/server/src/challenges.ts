/**
 * The one place where wire errors are made: status, `error`, `error_description`,
 * `WWW-Authenticate`, `DPoP-Nonce` and `Cache-Control` for every way a request can fail, and
 * the headers of an accepted one. Everything else in the package decides *which* outcome
 * applies; only this module decides how it looks on the wire (RFC 9449 §7.1, §7.2, §9;
 * RFC 6750 §3; the error table, E8–E16 in docs/requirements.md).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @packageDocumentation
 */
import type { DPoPError } from '@keybound/core'
import type { Rejection, RejectionStatus } from './types.js'

/** What every challenge of one resource server shares. */
export interface ChallengeContext {
  /** `algs` value: the accepted proof algorithms, space-delimited. */
  readonly algs: string
  readonly realm?: string
  /** RFC 9728 §5.1 `resource_metadata`: where the protected-resource metadata is served. */
  readonly resourceMetadata?: string
  /** Whether a `Bearer` challenge is offered next to `DPoP` (Fig. 17). */
  readonly bearerOffered: boolean
  /** Whether the request is a CORS request (has `Origin`), so headers must be exposed. */
  readonly cors: boolean
}

/** The auth scheme a failure is attributed to; `both` when it is ambiguous (§7.2, Fig. 19). */
export type ErrorScheme = 'DPoP' | 'Bearer' | 'both'

/** Stable reason codes of the rejections made here (core errors keep their own codes). */
export const REJECTION_CODES = {
  noCredentials: 'ERR_DPOP_NO_CREDENTIALS',
  multipleMethods: 'ERR_DPOP_MULTIPLE_METHODS',
  malformedAuthorization: 'ERR_DPOP_AUTHORIZATION_MALFORMED',
  unsupportedTarget: 'ERR_DPOP_REQUEST_TARGET_UNSUPPORTED',
  bearerRefused: 'ERR_DPOP_BEARER_REFUSED',
  boundTokenAsBearer: 'ERR_DPOP_BOUND_TOKEN_AS_BEARER',
  tokenNotBound: 'ERR_DPOP_TOKEN_NOT_BOUND',
  tokenInvalid: 'ERR_DPOP_ACCESS_TOKEN_INVALID',
  tokenUnavailable: 'ERR_DPOP_ACCESS_TOKEN_UNAVAILABLE',
  proofMissing: 'ERR_DPOP_PROOF_MISSING',
  multipleProofs: 'ERR_DPOP_MULTIPLE_PROOFS',
  insufficientScope: 'ERR_DPOP_INSUFFICIENT_SCOPE',
  claimCheckFailed: 'ERR_DPOP_CLAIM_CHECK_FAILED',
  internal: 'ERR_DPOP_INTERNAL',
} as const

/** Headers a browser client must be able to read (§7.1, §8: CORS exposure). */
export const EXPOSED_HEADERS = 'WWW-Authenticate, DPoP-Nonce'

const MULTIPLE_METHODS = 'Multiple methods used to include access token'
const NONCE_REQUIRED = 'Resource server requires nonce in DPoP proof'

// Proof failures from @keybound/core, described without echoing anything from the proof:
// the descriptions are fixed text plus, at most, the name of the RFC field concerned.
const PROOF_DESCRIPTIONS: Record<string, (claim: string | undefined) => string> = {
  ERR_DPOP_PROOF_MALFORMED: () => 'Malformed DPoP proof',
  ERR_DPOP_HEADER_INVALID: (claim) => `Unacceptable DPoP proof header${claim ? ` (${claim})` : ''}`,
  ERR_DPOP_SIGNATURE_INVALID: () => 'Invalid DPoP proof signature',
  ERR_DPOP_CLAIM_INVALID: (claim) => `Invalid DPoP proof claim${claim ? ` (${claim})` : ''}`,
  ERR_DPOP_CLAIM_MISMATCH: (claim) => `DPoP proof ${claim ?? 'claim'} mismatch`,
  ERR_DPOP_IAT_OUT_OF_WINDOW: () => 'DPoP proof iat outside the acceptance window',
  ERR_DPOP_REPLAYED: () => 'DPoP proof already used',
  ERR_DPOP_KEY_UNSUPPORTED: () => 'Unsupported DPoP proof key',
  [REJECTION_CODES.proofMissing]: () => 'Missing DPoP proof',
  [REJECTION_CODES.multipleProofs]: () => 'Multiple DPoP proofs',
}

// RFC 6750 §3: auth-param values are limited to %x20-21 / %x23-5B / %x5D-7E; anything else
// (quotes, backslashes, controls, non-ASCII) is dropped so a header can never be broken.
function quote(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`
}

function safeClaimName(claim: string | undefined): string | undefined {
  return claim !== undefined && /^[a-z]{1,8}$/.test(claim) ? claim : undefined
}

interface ChallengeError {
  error: string
  description?: string
  scope?: string
}

function renderParams(params: Array<[string, string | undefined]>): string {
  return params
    .filter((param): param is [string, string] => param[1] !== undefined)
    .map(([name, value]) => `${name}=${quote(value)}`)
    .join(', ')
}

function renderScheme(scheme: string, params: Array<[string, string | undefined]>): string {
  const rendered = renderParams(params)
  return rendered === '' ? scheme : `${scheme} ${rendered}`
}

function renderBearer(context: ChallengeContext, failure?: ChallengeError): string {
  return renderScheme('Bearer', [
    ['realm', context.realm],
    ['error', failure?.error],
    ['error_description', failure?.description],
    ['scope', failure?.scope],
    ['resource_metadata', context.resourceMetadata],
  ])
}

// Figs. 15/16 put `algs` last; Fig. 19 (the same error on both schemes) puts it first. Both
// orders are reproduced exactly, so that the challenges read like the RFC's examples.
function renderDPoP(
  context: ChallengeContext,
  failure?: ChallengeError,
  algsFirst = false,
): string {
  const errorParams: Array<[string, string | undefined]> = [
    ['error', failure?.error],
    ['error_description', failure?.description],
    ['scope', failure?.scope],
  ]
  const algs: [string, string] = ['algs', context.algs]
  // RFC 9728 §5.1 fixes no position: it goes last, after the RFC 9449 figures' parameters.
  return renderScheme('DPoP', [
    ['realm', context.realm],
    ...(algsFirst ? [algs, ...errorParams] : [...errorParams, algs]),
    ['resource_metadata', context.resourceMetadata],
  ])
}

/**
 * The `WWW-Authenticate` value: a Bearer challenge (when offered or when the request used
 * Bearer) followed by the DPoP challenge, in one field value (§7.2 Figs. 17–19).
 */
function renderChallenges(
  context: ChallengeContext,
  scheme: ErrorScheme | undefined,
  failure?: ChallengeError,
): string {
  const challenges: string[] = []
  const bearer = context.bearerOffered || scheme === 'Bearer' || scheme === 'both'
  if (bearer)
    challenges.push(
      renderBearer(context, scheme === 'Bearer' || scheme === 'both' ? failure : undefined),
    )
  challenges.push(
    renderDPoP(
      context,
      scheme === 'DPoP' || scheme === 'both' ? failure : undefined,
      scheme === 'both',
    ),
  )
  return challenges.join(', ')
}

function baseHeaders(context: ChallengeContext): Record<string, string> {
  return context.cors ? { 'Access-Control-Expose-Headers': EXPOSED_HEADERS } : {}
}

function reject(
  context: ChallengeContext,
  status: RejectionStatus,
  scheme: ErrorScheme,
  failure: ChallengeError,
  code: string,
  extraHeaders: Record<string, string> = {},
): Rejection {
  const responseHeaders = {
    'WWW-Authenticate': renderChallenges(context, scheme, failure),
    ...extraHeaders,
    ...baseHeaders(context),
  }
  const rejection: Rejection = { ok: false, status, error: failure.error, responseHeaders, code }
  if (failure.description !== undefined) rejection.errorDescription = failure.description
  return rejection
}

/**
 * No access token at all (or only unsupported schemes): 401 with the plain challenges and no
 * error information (RFC 6750 §3.1, RFC 9449 Figs. 15 and 17).
 */
export function rejectNoCredentials(context: ChallengeContext): Rejection {
  return {
    ok: false,
    status: 401,
    error: '',
    responseHeaders: {
      'WWW-Authenticate': renderChallenges(context, undefined),
      ...baseHeaders(context),
    },
    code: REJECTION_CODES.noCredentials,
  }
}

/** More than one way of sending a token in one request: 400 `invalid_request` (Fig. 19). */
export function rejectMultipleMethods(context: ChallengeContext): Rejection {
  return reject(
    context,
    400,
    'both',
    { error: 'invalid_request', description: MULTIPLE_METHODS },
    REJECTION_CODES.multipleMethods,
  )
}

/** An `Authorization` value for DPoP/Bearer that is not `scheme 1*SP token68` (§7.1 ABNF). */
export function rejectMalformedAuthorization(
  context: ChallengeContext,
  scheme: 'DPoP' | 'Bearer',
): Rejection {
  return reject(
    context,
    400,
    scheme,
    { error: 'invalid_request', description: 'Malformed access token credentials' },
    REJECTION_CODES.malformedAuthorization,
  )
}

/** A request target the expected `htu` cannot be built from (e.g. `*`). */
export function rejectUnsupportedTarget(context: ChallengeContext): Rejection {
  return reject(
    context,
    400,
    'DPoP',
    { error: 'invalid_request', description: 'Unsupported request target' },
    REJECTION_CODES.unsupportedTarget,
  )
}

/** A Bearer token where only DPoP is accepted (`allowBearer` off): §7.2, the error goes on Bearer. */
export function rejectBearer(context: ChallengeContext): Rejection {
  return reject(
    context,
    401,
    'Bearer',
    { error: 'invalid_token', description: 'Bearer tokens are not accepted' },
    REJECTION_CODES.bearerRefused,
  )
}

/** A DPoP-bound token presented as Bearer: §7.2 MUST reject. */
export function rejectBoundTokenAsBearer(context: ChallengeContext): Rejection {
  return reject(
    context,
    401,
    'Bearer',
    { error: 'invalid_token', description: 'DPoP-bound access token requires the DPoP scheme' },
    REJECTION_CODES.boundTokenAsBearer,
  )
}

/** An unbound token presented with the DPoP scheme (RFC 9449 §7.1; RS17, D13). */
export function rejectTokenNotBound(context: ChallengeContext): Rejection {
  return reject(
    context,
    401,
    'DPoP',
    { error: 'invalid_token', description: 'Access token is not DPoP-bound' },
    REJECTION_CODES.tokenNotBound,
  )
}

/** The access token itself failed validation (Fig. 18 wording). */
export function rejectInvalidToken(
  context: ChallengeContext,
  scheme: 'DPoP' | 'Bearer',
): Rejection {
  return reject(
    context,
    401,
    scheme,
    { error: 'invalid_token', description: 'Invalid token' },
    REJECTION_CODES.tokenInvalid,
  )
}

/** The proof key is not the key the token is bound to: exactly Fig. 16. */
export function rejectKeyBinding(context: ChallengeContext, code: string): Rejection {
  return reject(
    context,
    401,
    'DPoP',
    { error: 'invalid_token', description: 'Invalid DPoP key binding' },
    code,
  )
}

/** The DPoP proof is missing, repeated or fails a §4.3 check: 401 `invalid_dpop_proof`. */
export function rejectInvalidProof(
  context: ChallengeContext,
  code: string,
  claim?: string,
): Rejection {
  const describe = PROOF_DESCRIPTIONS[code] ?? (() => 'Invalid DPoP proof')
  return reject(
    context,
    401,
    'DPoP',
    { error: 'invalid_dpop_proof', description: describe(safeClaimName(claim)) },
    code,
  )
}

/** A nonce is required, or the one sent is not current: Fig. 24, with a fresh `DPoP-Nonce` (§9). */
export function rejectNonceRequired(
  context: ChallengeContext,
  nonce: string,
  code: string,
): Rejection {
  return reject(
    context,
    401,
    'DPoP',
    { error: 'use_dpop_nonce', description: NONCE_REQUIRED },
    code,
    {
      'DPoP-Nonce': nonce,
      'Cache-Control': 'no-store',
    },
  )
}

/** The token lacks a route's scopes: 403 `insufficient_scope` with the scopes needed (RFC 6750 §3.1). */
export function rejectInsufficientScope(
  context: ChallengeContext,
  scheme: 'DPoP' | 'Bearer',
  scopes: readonly string[],
): Rejection {
  return reject(
    context,
    403,
    scheme,
    { error: 'insufficient_scope', description: 'Insufficient scope', scope: scopes.join(' ') },
    REJECTION_CODES.insufficientScope,
  )
}

/**
 * The token fails a route's claim checks: 403 `insufficient_scope` without a `scope` attribute,
 * since no scope would help (RFC 6750 §3.1: the request needs more than the token grants; D26).
 */
export function rejectClaimCheck(context: ChallengeContext, scheme: 'DPoP' | 'Bearer'): Rejection {
  return reject(
    context,
    403,
    scheme,
    {
      error: 'insufficient_scope',
      description: "Access token claims do not meet the resource's requirements",
    },
    REJECTION_CODES.claimCheckFailed,
  )
}

/**
 * A dependency cannot answer (replay store, JWKS, introspection): 503, and never acceptance.
 * No challenge: the credentials were not judged.
 */
export function rejectUnavailable(context: ChallengeContext, code: string): Rejection {
  return {
    ok: false,
    status: 503,
    error: 'temporarily_unavailable',
    errorDescription: 'Try again later',
    responseHeaders: { 'Cache-Control': 'no-store', 'Retry-After': '1', ...baseHeaders(context) },
    code,
  }
}

/** Headers of an accepted request: a rotated nonce (§8.2 via §9) must not be cached. */
export function acceptanceHeaders(
  context: ChallengeContext,
  nonce?: string,
): Record<string, string> {
  const headers = baseHeaders(context)
  if (nonce !== undefined)
    Object.assign(headers, { 'DPoP-Nonce': nonce, 'Cache-Control': 'no-store' })
  return headers
}

/** Reason code and detail of a core error, for verdicts and outcome events. */
export function describeCoreError(error: DPoPError): {
  code: string
  claim?: string
  detail?: string
} {
  const described: { code: string; claim?: string; detail?: string } = { code: error.code }
  if (error.claim !== undefined) described.claim = error.claim
  if (error.reason !== undefined) described.detail = error.reason
  return described
}

/**
 * The HTTP response for a rejection: status, headers and body. The body is the RFC 6749 §5.2
 * style JSON error object, or empty when no credentials were sent (RFC 6750 §3.1: no error
 * information). Adapters send exactly this.
 *
 * @example
 * ```ts
 * const verdict = await resourceServer.verifyRequest(request)
 * if (!verdict.ok) {
 *   const { status, headers, body } = renderRejection(verdict)
 *   return new Response(body, { status, headers })
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function renderRejection(verdict: Rejection): {
  status: RejectionStatus
  headers: Record<string, string>
  body: string
} {
  if (verdict.error === '')
    return { status: verdict.status, headers: { ...verdict.responseHeaders }, body: '' }
  const body: Record<string, string> = { error: verdict.error }
  if (verdict.errorDescription !== undefined) body.error_description = verdict.errorDescription
  return {
    status: verdict.status,
    headers: { ...verdict.responseHeaders, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }
}
