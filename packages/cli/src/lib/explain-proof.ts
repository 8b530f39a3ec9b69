/**
 * The proof debugger behind `keybound explain`. Every verdict comes from `@keybound/core`'s
 * `verifyProof`; this module only words it. Core stops at the first failure, so each request
 * check is run as its own verification in which only that check's input is the real one and
 * the others are taken from the proof itself: every mismatch is reported, not only the first,
 * and the debugger cannot disagree with the verifier, because it never judges by itself. A
 * final verification with everything given must agree; when it does not, its refusal is
 * reported as a failing `verdict` check.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 */
import {
  DPoPError,
  calculateAth,
  verifyProof,
  type VerifiedProof,
  type VerifyProofOptions,
} from '@keybound/core'
import {
  DEFAULT_CLOCK_TOLERANCE,
  DEFAULT_MAX_AGE,
  SUPPORTED_ALGORITHMS,
  stripQueryAndFragment,
} from '@keybound/core/internal'

/** One line of the explanation. */
export interface ExplainedCheck {
  /** Stable name of the check, e.g. `htu`. */
  check: string
  status: 'pass' | 'fail' | 'skip'
  /** What was compared, with the values. */
  detail: string
  /** What the server expects, when the check compares values. */
  expected?: string
  /** What the proof has, when the check compares values. */
  found?: string
  /** How to fix a failure. */
  fix?: string
}

/** What is known about the request the proof came with. */
export interface ExplainContext {
  method?: string
  url?: string
  accessToken?: string
  /** The thumbprint the access token is bound to; read from a JWT token's `cnf.jkt` when absent. */
  jkt?: string
  nonce?: string
  /** Current time in seconds (default: now). */
  now?: number
  maxAge?: number
  clockTolerance?: number
  algorithms?: readonly string[]
}

/**
 * The overall result: `pass` only when core accepts the proof for the request described (so
 * `--method` and `--url` are needed), `incomplete` when nothing failed but `htm` or `htu` could
 * not be checked, `fail` otherwise.
 */
export interface ExplainSummary {
  status: 'pass' | 'fail' | 'incomplete'
  failed: string[]
  skipped: string[]
}

const MAX_PROOF_LENGTH = 8192

// Which syntax stage a core error belongs to, in the order core checks them.
const STAGES = [
  'compact',
  'header',
  'typ',
  'crit',
  'alg',
  'jwk',
  'payload',
  'signature',
  'claims',
] as const
type Stage = (typeof STAGES)[number]

const STAGE_FIXES: Record<Stage, string> = {
  compact: 'send exactly one compact JWS (header.payload.signature) in one DPoP header field',
  header:
    'the JOSE header must be canonical base64url of a UTF-8 JSON object without duplicate names',
  typ: 'set the JOSE header "typ" to "dpop+jwt" (RFC 9449 §4.2)',
  crit: 'remove "crit": no DPoP extension is understood',
  alg: `sign with an asymmetric algorithm the server accepts: ${SUPPORTED_ALGORITHMS.join(', ')}`,
  jwk: 'put the PUBLIC key in "jwk" (no "d" or other private members), matching "alg"; RSA keys need 2048+ bits',
  payload: 'the payload must be canonical base64url of a UTF-8 JSON object without duplicate names',
  signature:
    'sign "header.payload" with the private key of the "jwk" header, JWS form (ECDSA: raw R||S, not DER)',
  claims: 'include "jti" (string), "htm" (string), "htu" (string) and "iat" (number of seconds)',
}

// What each stage expects, for the expected/found lines of a refusal.
const STAGE_RULES: Record<Stage, string> = {
  compact: `one compact JWS (header.payload.signature) of at most ${MAX_PROOF_LENGTH} characters`,
  header: 'canonical base64url of a JSON object',
  typ: 'typ dpop+jwt',
  crit: 'no crit header parameter',
  alg: `one of ${SUPPORTED_ALGORITHMS.join(' ')}`,
  jwk: 'a public key that fits alg',
  payload: 'canonical base64url of a JSON object',
  signature: 'a JWS signature by the key in jwk',
  claims: 'jti, htm and htu as strings, iat as a number',
}

function stageOf(error: DPoPError): Stage {
  if (error.code === 'ERR_DPOP_SIGNATURE_INVALID') return 'signature'
  if (error.code === 'ERR_DPOP_CLAIM_INVALID') return 'claims'
  if (error.code === 'ERR_DPOP_HEADER_INVALID')
    return (error.claim as Stage | undefined) ?? 'header'
  // Core names the malformed part in `details.segment`; its `reason` says what is wrong there.
  const segment = error.details?.['segment']
  if (segment === 'header' || segment === 'payload' || segment === 'signature') return segment
  return 'compact'
}

function decodeLenient(segment: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

// Reads the proof leniently for wording only; every verdict comes from core.
interface ProofView {
  proof: string
  header: Record<string, unknown> | undefined
  claims: Record<string, unknown> | undefined
}

/** Core's refusal of `proof`, or its result when it accepts. */
async function runCore(
  proof: string,
  request: { method: string; url: string },
  options: Omit<VerifyProofOptions, 'replayStore'>,
): Promise<DPoPError | VerifiedProof> {
  try {
    return await verifyProof(proof, request, {
      replayStore: false,
      maxProofLength: MAX_PROOF_LENGTH,
      ...options,
    })
  } catch (error) {
    if (error instanceof DPoPError) return error
    throw error
  }
}

interface Probe {
  method?: string
  url?: string
  now?: number
  options?: Omit<VerifyProofOptions, 'replayStore' | 'now'>
}

// One request check in isolation: the inputs it does not test are the proof's own values (its
// htm, its htu, its iat as the time), so only the tested input can make core refuse. Plain http
// is allowed only while htu is not the input under test.
function probe(view: ProofView, { method, url, now, options }: Probe) {
  const claims = view.claims ?? {}
  return runCore(
    view.proof,
    { method: method ?? String(claims.htm), url: url ?? String(claims.htu) },
    {
      allowInsecureHttp: url === undefined,
      now: () => (now ?? (claims.iat as number)) * 1000,
      ...options,
    },
  )
}

function checkSyntax(view: ProofView, outcome: DPoPError | VerifiedProof): ExplainedCheck[] {
  // The request-shaped errors of this self-check cannot happen (the proof is checked against
  // its own values); anything else is a syntax, header or signature failure.
  const failed = outcome instanceof DPoPError ? outcome : undefined
  const failedStage = failed === undefined ? undefined : stageOf(failed)
  const failedIndex = failedStage === undefined ? STAGES.length : STAGES.indexOf(failedStage)
  return STAGES.map((stage, index): ExplainedCheck => {
    if (index < failedIndex)
      return { check: stage, status: 'pass', detail: passDetail(stage, view.proof, view.header) }
    if (index > failedIndex)
      return {
        check: stage,
        status: 'skip',
        detail: `not checked: the ${failedStage} check failed`,
      }
    return {
      check: stage,
      status: 'fail',
      detail: failed!.message,
      expected: STAGE_RULES[stage],
      found: foundAt(stage, view, failed!) ?? failed!.message,
      fix: STAGE_FIXES[stage],
    }
  })
}

const show = (value: unknown): string => JSON.stringify(value) ?? 'nothing'

const CLAIM_TYPES = { jti: 'string', htm: 'string', htu: 'string', iat: 'number' } as const

function typeOfClaim(claims: Record<string, unknown>, name: string): string {
  const value = claims[name]
  if (value === undefined) return 'missing'
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
}

// The types of the required claims, when one is missing or of the wrong type; a claim refused
// for its value (a jti too long, an htu that is no URL) keeps core's message.
function foundClaimTypes(claims: Record<string, unknown>): string | undefined {
  const names = Object.keys(CLAIM_TYPES) as (keyof typeof CLAIM_TYPES)[]
  const types = names.map((name) => [name, typeOfClaim(claims, name)] as const)
  if (types.every(([name, type]) => type === CLAIM_TYPES[name])) return undefined
  return types.map(([name, type]) => `${name} ${type}`).join(', ')
}

// The value a failed syntax stage found, next to the rule it expected; the stages whose
// value cannot be shown (undecodable parts, a key's members) leave core's message.
function foundAt(stage: Stage, view: ProofView, error: DPoPError): string | undefined {
  const header = view.header ?? {}
  switch (stage) {
    case 'compact':
      return `${view.proof.split('.').length} dot-separated part(s), ${view.proof.length} characters`
    case 'typ':
      return `typ ${show(header.typ)}`
    case 'crit':
      return `crit ${show(header.crit)}`
    case 'alg':
      return `alg ${show(header.alg)}`
    case 'signature':
      // A signature segment that is not canonical base64url never got to the key.
      return error.code === 'ERR_DPOP_SIGNATURE_INVALID'
        ? 'a signature that does not verify with that key'
        : undefined
    case 'claims':
      return foundClaimTypes(view.claims ?? {})
    default:
      return undefined
  }
}

function passDetail(
  stage: Stage,
  proof: string,
  header: Record<string, unknown> | undefined,
): string {
  const jwk = (header?.jwk ?? {}) as Record<string, unknown>
  switch (stage) {
    case 'compact':
      return `three base64url parts, ${proof.length} characters (limit ${MAX_PROOF_LENGTH})`
    case 'typ':
      return `typ ${String(header?.typ)}`
    case 'crit':
      return 'no crit header parameter'
    case 'alg':
      return `alg ${String(header?.alg)} is an accepted asymmetric algorithm`
    case 'jwk':
      return `public ${String(jwk.kty)}${jwk.crv === undefined ? '' : ` ${String(jwk.crv)}`} key that fits the alg`
    case 'signature':
      return 'verifies with the public key in "jwk"'
    case 'claims':
      return 'jti, htm, htu and iat are present and well typed'
    default:
      return `${stage} decodes to a strict JSON object`
  }
}

function describeUrlDifference(htu: string, expected: string): string {
  let a: URL
  let b: URL
  try {
    a = new URL(htu)
    b = new URL(expected)
  } catch {
    return 'one of them is not an absolute URL'
  }
  const differences: string[] = []
  if (a.protocol !== b.protocol)
    differences.push(
      `the scheme differs (${a.protocol.slice(0, -1)} vs ${b.protocol.slice(0, -1)})`,
    )
  if (a.hostname !== b.hostname)
    differences.push(`the host differs (${a.hostname} vs ${b.hostname})`)
  if (a.port !== b.port)
    differences.push(`the port differs (${a.port || 'default'} vs ${b.port || 'default'})`)
  if (a.pathname !== b.pathname) {
    if (a.pathname.toLowerCase() === b.pathname.toLowerCase())
      differences.push('the path differs in letter case (paths are case-sensitive)')
    else if (a.pathname.replace(/\/$/, '') === b.pathname.replace(/\/$/, ''))
      differences.push('the path differs by a trailing slash')
    else differences.push(`the path differs (${a.pathname} vs ${b.pathname})`)
  }
  return differences.join('; ') || 'they differ after normalization'
}

function isRefusal(outcome: DPoPError | VerifiedProof, code: string, claim?: string): boolean {
  return (
    outcome instanceof DPoPError &&
    outcome.code === code &&
    (claim === undefined || outcome.claim === claim)
  )
}

// RFC 9110 §9.1: method names are case-sensitive; the standard ones are upper case.
function methodHint(htm: unknown, method: string): string {
  return typeof htm === 'string' && htm !== method && htm.toUpperCase() === method.toUpperCase()
    ? ': methods are case-sensitive'
    : ''
}

async function checkHtm(view: ProofView, method: string | undefined): Promise<ExplainedCheck> {
  const htm = String(view.claims?.htm)
  if (method === undefined)
    return {
      check: 'htm',
      status: 'skip',
      detail: `htm ${htm}; no request method given (--method)`,
    }
  const outcome = await probe(view, { method })
  if (!isRefusal(outcome, 'ERR_DPOP_CLAIM_MISMATCH', 'htm'))
    return { check: 'htm', status: 'pass', detail: `htm ${htm} matches the request method` }
  return {
    check: 'htm',
    status: 'fail',
    detail: `htm ${htm} does not match request method ${method}${methodHint(htm, method)}`,
    expected: method,
    found: htm,
    fix: `make a new proof with htm "${method}" for this request`,
  }
}

function htuFix(outcome: DPoPError, hasQuery: boolean): string {
  if (outcome.reason === 'insecure scheme')
    return 'use https; plain http is accepted only on loopback hosts (localhost, 127.0.0.1, [::1])'
  if (outcome.reason === 'invalid')
    return 'put the full request URL, without query and fragment, in htu'
  return hasQuery
    ? 'strip the query and fragment from htu (RFC 9449 §4.2)'
    : "sign the URL the server sees; behind a proxy or load balancer set the server's public base URL to the URL clients call"
}

function htuProblem(outcome: DPoPError, htu: string, expected: string): string {
  if (outcome.reason === 'insecure scheme')
    return `htu ${htu} uses plain http outside loopback (RFC 9449 §2 requires TLS)`
  if (outcome.reason === 'invalid') return `htu ${htu} is not an absolute http(s) URI`
  const query = /[?#]/.test(htu) ? 'htu carries a query or fragment; ' : ''
  return `htu ${htu} does not match request URL ${expected}: ${query}${describeUrlDifference(stripQueryAndFragment(htu), expected)}`
}

async function checkHtu(view: ProofView, url: string | undefined): Promise<ExplainedCheck> {
  const htu = String(view.claims?.htu)
  if (url === undefined)
    return { check: 'htu', status: 'skip', detail: `htu ${htu}; no request URL given (--url)` }
  const expected = stripQueryAndFragment(url)
  const outcome = await probe(view, { url })
  if (!(outcome instanceof DPoPError && outcome.claim === 'htu')) {
    const normalized = htu === expected ? '' : ' after RFC 3986 normalization'
    return {
      check: 'htu',
      status: 'pass',
      detail: `htu ${htu} matches request URL ${expected}${normalized}`,
    }
  }
  return {
    check: 'htu',
    status: 'fail',
    detail: htuProblem(outcome, htu, expected),
    expected:
      outcome.reason === 'insecure scheme' ? `https (or http on loopback): ${expected}` : expected,
    found: htu,
    fix: htuFix(outcome, /[?#]/.test(htu)),
  }
}

function formatTime(seconds: number): string {
  return Number.isFinite(seconds)
    ? new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')
    : String(seconds)
}

function describeDuration(seconds: number): string {
  const abs = Math.abs(seconds)
  if (abs < 120) return `${Math.round(abs)} s`
  if (abs < 7200) return `${Math.round(abs / 60)} min`
  if (abs < 172800) return `${Math.round(abs / 3600)} h`
  return `${Math.round(abs / 86400)} days`
}

async function checkIat(view: ProofView, context: ExplainContext): Promise<ExplainedCheck> {
  const now = Math.floor(context.now ?? Date.now() / 1000)
  // Core's defaults, so the window worded is the one `verifyProof` applies.
  const maxAge = context.maxAge ?? DEFAULT_MAX_AGE
  const tolerance = context.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE
  const iat = view.claims?.iat as number
  const window = `${maxAge} s before to ${tolerance} s after server time ${formatTime(now)}`
  const outcome = await probe(view, {
    now,
    options: { maxAge, clockTolerance: tolerance },
  })
  if (!isRefusal(outcome, 'ERR_DPOP_IAT_OUT_OF_WINDOW'))
    return {
      check: 'iat',
      status: 'pass',
      detail: `iat ${formatTime(iat)} lies in the accepted window, ${window}`,
    }
  const stale = (outcome as DPoPError).reason === 'stale'
  const age = stale
    ? `${describeDuration(now - iat)} old`
    : `${describeDuration(iat - now)} in the future`
  return {
    check: 'iat',
    status: 'fail',
    detail: `iat ${iat} (${formatTime(iat)}) is ${age}; the accepted window is ${window}`,
    expected: `from ${formatTime(now - maxAge)} to ${formatTime(now + tolerance)}`,
    found: formatTime(iat),
    fix: stale
      ? 'make a fresh proof for every request; if the client clock is wrong, fix it or have the server issue nonces'
      : "the client's clock is ahead: synchronise it (NTP), or have the server issue nonces",
  }
}

async function checkAth(view: ProofView, accessToken: string | undefined): Promise<ExplainedCheck> {
  const ath = view.claims?.ath
  if (accessToken === undefined) {
    return {
      check: 'ath',
      status: 'skip',
      detail:
        ath === undefined
          ? 'no access token given and no ath: fine at a token endpoint'
          : 'proof has ath but no access token was given (--token)',
    }
  }
  const expected = await calculateAth(accessToken)
  const outcome = await probe(view, { options: { accessToken } })
  if (!(outcome instanceof DPoPError && outcome.claim === 'ath'))
    return { check: 'ath', status: 'pass', detail: `ath matches the access token (${expected})` }
  return {
    check: 'ath',
    status: 'fail',
    detail:
      ath === undefined
        ? 'ath is missing but the request carries an access token'
        : `ath ${String(ath)} is not the hash of this access token (${expected})`,
    expected,
    found: ath === undefined ? '(no ath)' : String(ath),
    fix: 'include ath = base64url(SHA-256(access token)) of the exact token sent in Authorization',
  }
}

function boundJktOf(accessToken: string | undefined): string | undefined {
  const payload = accessToken?.split('.')[1]
  const cnf = payload === undefined ? undefined : decodeLenient(payload)?.cnf
  const jkt =
    typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>).jkt : undefined
  return typeof jkt === 'string' ? jkt : undefined
}

async function checkKeyBinding(
  view: ProofView,
  proofJkt: string | undefined,
  context: ExplainContext,
): Promise<ExplainedCheck> {
  const bound = context.jkt ?? boundJktOf(context.accessToken)
  if (bound === undefined)
    return {
      check: 'jkt',
      status: 'skip',
      detail: `proof key thumbprint ${proofJkt ?? 'unknown'}; no bound jkt given (--jkt, or a JWT token with cnf.jkt)`,
    }
  const outcome = await probe(view, { options: { expectedJkt: bound } })
  if (!isRefusal(outcome, 'ERR_DPOP_KEY_BINDING_MISMATCH'))
    return {
      check: 'jkt',
      status: 'pass',
      detail: `proof key thumbprint matches the token's cnf.jkt ${bound}`,
    }
  return {
    check: 'jkt',
    status: 'fail',
    detail: `proof key thumbprint ${proofJkt ?? 'unknown'} is not the token's cnf.jkt ${bound}`,
    expected: bound,
    found: proofJkt ?? 'unknown',
    fix: 'sign with the key the token was issued to; a token obtained with another key needs a new token',
  }
}

async function checkNonce(view: ProofView, nonce: string | undefined): Promise<ExplainedCheck> {
  const found = view.claims?.nonce
  if (nonce === undefined)
    return {
      check: 'nonce',
      status: 'skip',
      detail:
        found === undefined
          ? 'no server nonce given and none in the proof'
          : `proof nonce ${String(found)}; no server nonce given (--nonce)`,
    }
  const outcome = await probe(view, { options: { nonce } })
  if (!isRefusal(outcome, 'ERR_DPOP_NONCE_REQUIRED'))
    return { check: 'nonce', status: 'pass', detail: 'nonce matches the server nonce' }
  return {
    check: 'nonce',
    status: 'fail',
    detail:
      found === undefined
        ? 'the server sent a nonce and the proof has none'
        : `nonce ${String(found)} is not the server's current nonce`,
    expected: nonce,
    found: found === undefined ? '(no nonce)' : String(found),
    fix: "put the value of the latest DPoP-Nonce response header in the proof's nonce claim and retry once",
  }
}

async function checkAlgorithmPolicy(
  view: ProofView,
  algorithms: readonly string[] | undefined,
): Promise<ExplainedCheck> {
  const alg = String(view.header?.alg)
  if (algorithms === undefined)
    return {
      check: 'alg-policy',
      status: 'skip',
      detail: 'no server algorithm list given (--algs)',
    }
  const outcome = await probe(view, { options: { algorithms } })
  if (!(outcome instanceof DPoPError && outcome.claim === 'alg'))
    return { check: 'alg-policy', status: 'pass', detail: `alg ${alg} is in the server's list` }
  return {
    check: 'alg-policy',
    status: 'fail',
    detail: `alg ${alg} is not in the server's list (${algorithms.join(' ')})`,
    expected: algorithms.join(' '),
    found: alg,
    fix: 'make the key with one of the algorithms the server lists in its algs challenge',
  }
}

// The verification a server would run with everything given. The checks above must explain any
// refusal; if one slips through (a rule only the combination breaks), it is reported as is.
async function checkVerdict(
  view: ProofView,
  context: ExplainContext,
  checks: readonly ExplainedCheck[],
): Promise<ExplainedCheck | undefined> {
  if (context.method === undefined || context.url === undefined) return undefined
  if (checks.some((check) => check.status === 'fail')) return undefined
  const bound = context.jkt ?? boundJktOf(context.accessToken)
  const outcome = await runCore(
    view.proof,
    { method: context.method, url: context.url },
    {
      ...(context.accessToken === undefined ? {} : { accessToken: context.accessToken }),
      ...(bound === undefined ? {} : { expectedJkt: bound }),
      ...(context.nonce === undefined ? {} : { nonce: context.nonce }),
      ...(context.algorithms === undefined ? {} : { algorithms: context.algorithms }),
      ...(context.now === undefined ? {} : { now: () => context.now! * 1000 }),
      maxAge: context.maxAge ?? 60,
      clockTolerance: context.clockTolerance ?? 10,
    },
  )
  if (!(outcome instanceof DPoPError)) return undefined
  return {
    check: 'verdict',
    status: 'fail',
    detail: `verifyProof refuses the proof: ${outcome.code}: ${outcome.message}`,
    fix: 'run keybound verify with the same arguments; this refusal is not explained by a single check',
  }
}

const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt'])
const ACCESS_TOKEN_CLAIMS = ['iss', 'aud', 'exp', 'sub', 'client_id', 'scope', 'cnf']

// An access token pasted where the proof goes: a JWT typed as one (RFC 9068 at+jwt, or JWT)
// whose payload has no htm or htu but the claims of a token.
function looksLikeAccessToken(view: ProofView): string[] | undefined {
  const typ = view.header?.typ
  const claims = view.claims
  if (claims === undefined || claims.htm !== undefined || claims.htu !== undefined) return undefined
  if (typeof typ === 'string' && !ACCESS_TOKEN_TYPES.has(typ.toLowerCase())) return undefined
  const tokenClaims = ACCESS_TOKEN_CLAIMS.filter((name) => claims[name] !== undefined)
  return tokenClaims.length > 0 ? tokenClaims : undefined
}

function explainAccessToken(view: ProofView, tokenClaims: readonly string[]): ExplainedCheck[] {
  const typ = view.header?.typ === undefined ? 'no typ' : `typ ${String(view.header.typ)}`
  return [
    {
      check: 'kind',
      status: 'fail',
      detail: `this is an access token, not a DPoP proof (${typ}; claims ${tokenClaims.join(', ')}; no htm or htu)`,
      expected: 'a DPoP proof: a JWT with typ dpop+jwt, a public jwk, and jti, htm, htu, iat',
      found: `an access token (${typ})`,
      fix: 'pass the value of the DPoP request header as the proof, and the access token with --token',
    },
    ...STAGES.map((stage): ExplainedCheck => ({
      check: stage,
      status: 'skip',
      detail: 'not checked: this is not a DPoP proof',
    })),
  ]
}

/**
 * Runs every proof check through `@keybound/core` and explains each one.
 * @example
 * ```ts
 * const checks = await explainProof(proof, { method: 'GET', url: 'https://api.example.com/v1/items' })
 * for (const c of checks) console.log(c.status, c.check, c.detail)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export async function explainProof(
  proof: string,
  context: ExplainContext = {},
): Promise<ExplainedCheck[]> {
  const trimmed = proof.trim()
  const parts = trimmed.split('.')
  const view: ProofView = {
    proof: trimmed,
    header: decodeLenient(parts[0]),
    claims: decodeLenient(parts[1]),
  }
  const tokenClaims = looksLikeAccessToken(view)
  if (tokenClaims !== undefined) return explainAccessToken(view, tokenClaims)
  const self = await runCore(
    trimmed,
    {
      method: String(view.claims?.htm ?? 'GET'),
      url: String(view.claims?.htu ?? 'https://invalid.example/'),
    },
    {
      allowInsecureHttp: true,
      now: () =>
        (typeof view.claims?.iat === 'number' ? view.claims.iat : Date.now() / 1000) * 1000,
    },
  )
  const checks = checkSyntax(view, self)
  if (trimmed.includes(',')) {
    checks[0] = {
      check: 'compact',
      status: 'fail',
      detail: 'the value contains a comma: two DPoP header fields were combined (RFC 9110 §5.3)',
      expected: 'one compact JWS',
      found: 'two or more values joined by a comma',
      fix: 'send exactly one DPoP header field per request',
    }
  }
  if (self instanceof DPoPError) {
    checks.push({
      check: 'request',
      status: 'skip',
      detail: `not checked: core checks the request only on a proof that passes the ${STAGES.join(', ')} checks`,
    })
    return checks
  }
  checks.push(
    await checkAlgorithmPolicy(view, context.algorithms),
    await checkHtm(view, context.method),
    await checkHtu(view, context.url),
    await checkIat(view, context),
    await checkAth(view, context.accessToken),
    await checkKeyBinding(view, self.jkt, context),
    await checkNonce(view, context.nonce),
    {
      check: 'replay',
      status: 'skip',
      detail: 'not checkable offline: only the server knows which jti it has seen',
    },
  )
  const verdict = await checkVerdict(view, context, checks)
  if (verdict !== undefined) checks.push(verdict)
  return checks
}

// Checks that say nothing about the request at hand when skipped: the replay check is only
// the server's to make, and the request checks are only skipped after a syntax failure.
const NOT_NEEDED_FOR_A_VERDICT = new Set(['replay', 'request'])

/**
 * Sums the checks up: `pass` needs `htm` and `htu` checked and nothing failed; without
 * `--method` or `--url` the result is `incomplete`, never a pass.
 * @example
 * ```ts
 * const { status, skipped } = summarizeChecks(await explainProof(proof))
 * // status 'incomplete', skipped ['htm', 'htu', …]
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function summarizeChecks(checks: readonly ExplainedCheck[]): ExplainSummary {
  const failed = checks.filter((check) => check.status === 'fail').map((check) => check.check)
  const skipped = checks
    .filter((check) => check.status === 'skip' && !NOT_NEEDED_FOR_A_VERDICT.has(check.check))
    .map((check) => check.check)
  const requestUnchecked = skipped.includes('htm') || skipped.includes('htu')
  const status = failed.length > 0 ? 'fail' : requestUnchecked ? 'incomplete' : 'pass'
  return { status, failed, skipped }
}
