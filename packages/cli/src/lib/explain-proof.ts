/**
 * The proof debugger behind `keybound explain`: it runs every check of RFC 9449 §4.3 on a proof
 * and says, for each, whether it passed, the values it compared and how to fix a failure.
 * Syntax, header and signature checks reuse `@keybound/core` (the proof verified against its own
 * `htm`/`htu`/`iat`), so the debugger can never disagree with the verifier about them; the
 * request checks are made one by one so that every mismatch is reported, not only the first.
 * @packageDocumentation
 */
import {
  DPoPError,
  SUPPORTED_ALGORITHMS,
  calculateAth,
  calculateJwkThumbprint,
  normalizeHtu,
  stripQueryAndFragment,
  verifyProof,
  type PublicJwk,
} from '@keybound/core'

/** One line of the explanation. */
export interface ExplainedCheck {
  /** Stable name of the check, e.g. `htu`. */
  check: string
  status: 'pass' | 'fail' | 'skip'
  /** What was compared, with the values. */
  detail: string
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

function stageOf(error: DPoPError): Stage {
  if (error.code === 'ERR_DPOP_SIGNATURE_INVALID') return 'signature'
  if (error.code === 'ERR_DPOP_CLAIM_INVALID') return 'claims'
  if (error.code === 'ERR_DPOP_HEADER_INVALID')
    return (error.claim as Stage | undefined) ?? 'header'
  const reason = error.reason ?? ''
  if (reason.startsWith('header')) return 'header'
  if (reason.startsWith('payload')) return 'payload'
  if (reason.startsWith('signature')) return 'signature'
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

async function checkSyntax(
  proof: string,
  header: Record<string, unknown> | undefined,
  claims: Record<string, unknown> | undefined,
): Promise<ExplainedCheck[]> {
  const iat = typeof claims?.iat === 'number' ? claims.iat : Date.now() / 1000
  let failed: DPoPError | undefined
  try {
    await verifyProof(
      proof,
      {
        method: String(claims?.htm ?? 'GET'),
        url: String(claims?.htu ?? 'https://invalid.example/'),
      },
      {
        replayStore: false,
        now: () => iat * 1000,
        allowInsecureHttp: true,
        maxProofLength: MAX_PROOF_LENGTH,
      },
    )
  } catch (error) {
    if (!(error instanceof DPoPError)) throw error
    // The request-shaped errors of this self-check are reported by the request checks instead.
    if (error.code !== 'ERR_DPOP_CLAIM_MISMATCH' && error.code !== 'ERR_DPOP_IAT_OUT_OF_WINDOW')
      failed = error
  }
  const failedStage = failed === undefined ? undefined : stageOf(failed)
  const failedIndex = failedStage === undefined ? STAGES.length : STAGES.indexOf(failedStage)
  return STAGES.map((stage, index): ExplainedCheck => {
    if (index < failedIndex)
      return { check: stage, status: 'pass', detail: passDetail(stage, proof, header) }
    if (index > failedIndex)
      return {
        check: stage,
        status: 'skip',
        detail: `not checked: the ${failedStage} check failed`,
      }
    return { check: stage, status: 'fail', detail: failed!.message, fix: STAGE_FIXES[stage] }
  })
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

function checkHtm(claims: Record<string, unknown>, method: string | undefined): ExplainedCheck {
  if (method === undefined)
    return {
      check: 'htm',
      status: 'skip',
      detail: `htm ${String(claims.htm)}; no request method given (--method)`,
    }
  if (claims.htm === method)
    return { check: 'htm', status: 'pass', detail: `htm ${method} matches the request method` }
  const caseOnly =
    typeof claims.htm === 'string' && claims.htm.toUpperCase() === method.toUpperCase()
  return {
    check: 'htm',
    status: 'fail',
    detail: `htm ${String(claims.htm)} does not match request method ${method}${caseOnly ? ': methods are case-sensitive' : ''}`,
    fix: `make a new proof with htm "${method}" for this request`,
  }
}

function checkHtu(claims: Record<string, unknown>, url: string | undefined): ExplainedCheck {
  const htu = String(claims.htu)
  if (url === undefined)
    return { check: 'htu', status: 'skip', detail: `htu ${htu}; no request URL given (--url)` }
  const expected = stripQueryAndFragment(url)
  const normalized = normalizeHtu(htu)
  if (normalized === undefined) {
    return {
      check: 'htu',
      status: 'fail',
      detail: `htu ${htu} is not an absolute http(s) URI`,
      fix: 'put the full request URL, without query and fragment, in htu',
    }
  }
  if (normalized === normalizeHtu(expected)) {
    return {
      check: 'htu',
      status: 'pass',
      detail: `htu ${htu} matches request URL ${expected}${htu === expected ? '' : ' after RFC 3986 normalization'}`,
    }
  }
  const hasQuery = /[?#]/.test(htu)
  return {
    check: 'htu',
    status: 'fail',
    detail: `htu ${htu} does not match request URL ${expected}: ${hasQuery ? 'htu carries a query or fragment; ' : ''}${describeUrlDifference(stripQueryAndFragment(htu), expected)}`,
    fix: hasQuery
      ? 'strip the query and fragment from htu (RFC 9449 §4.2)'
      : "sign the URL the server sees; behind a proxy or load balancer set the server's public base URL to the URL clients call",
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

function checkIat(claims: Record<string, unknown>, context: ExplainContext): ExplainedCheck {
  const now = Math.floor(context.now ?? Date.now() / 1000)
  const maxAge = context.maxAge ?? 60
  const tolerance = context.clockTolerance ?? 10
  const iat = claims.iat
  if (typeof iat !== 'number')
    return {
      check: 'iat',
      status: 'fail',
      detail: 'iat is missing or not a number',
      fix: STAGE_FIXES.claims,
    }
  const window = `the window is ${maxAge} s back and ${tolerance} s ahead of server time ${formatTime(now)}`
  if (iat < now - maxAge) {
    return {
      check: 'iat',
      status: 'fail',
      detail: `iat ${iat} (${formatTime(iat)}) is ${describeDuration(now - iat)} old; ${window}`,
      fix: 'make a fresh proof for every request; if the client clock is wrong, fix it or have the server issue nonces',
    }
  }
  if (iat > now + tolerance) {
    return {
      check: 'iat',
      status: 'fail',
      detail: `iat ${iat} (${formatTime(iat)}) is ${describeDuration(iat - now)} in the future; ${window}`,
      fix: "the client's clock is ahead: synchronise it (NTP), or have the server issue nonces",
    }
  }
  return { check: 'iat', status: 'pass', detail: `iat ${formatTime(iat)} is within ${window}` }
}

async function checkAth(
  claims: Record<string, unknown>,
  accessToken: string | undefined,
): Promise<ExplainedCheck> {
  if (accessToken === undefined) {
    return {
      check: 'ath',
      status: 'skip',
      detail:
        claims.ath === undefined
          ? 'no access token given and no ath: fine at a token endpoint'
          : 'proof has ath but no access token was given (--token)',
    }
  }
  const expected = await calculateAth(accessToken)
  if (claims.ath === expected)
    return { check: 'ath', status: 'pass', detail: `ath matches the access token (${expected})` }
  return {
    check: 'ath',
    status: 'fail',
    detail:
      claims.ath === undefined
        ? 'ath is missing but the request carries an access token'
        : `ath ${String(claims.ath)} is not the hash of this access token (${expected})`,
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
  if (proofJkt === bound)
    return {
      check: 'jkt',
      status: 'pass',
      detail: `proof key thumbprint matches the token's cnf.jkt ${bound}`,
    }
  return {
    check: 'jkt',
    status: 'fail',
    detail: `proof key thumbprint ${proofJkt ?? 'unknown'} is not the token's cnf.jkt ${bound}`,
    fix: 'sign with the key the token was issued to; a token obtained with another key needs a new token',
  }
}

function checkNonce(claims: Record<string, unknown>, nonce: string | undefined): ExplainedCheck {
  if (nonce === undefined)
    return {
      check: 'nonce',
      status: 'skip',
      detail:
        claims.nonce === undefined
          ? 'no server nonce given and none in the proof'
          : `proof nonce ${String(claims.nonce)}; no server nonce given (--nonce)`,
    }
  if (claims.nonce === nonce)
    return { check: 'nonce', status: 'pass', detail: 'nonce matches the server nonce' }
  return {
    check: 'nonce',
    status: 'fail',
    detail:
      claims.nonce === undefined
        ? 'the server sent a nonce and the proof has none'
        : `nonce ${String(claims.nonce)} is not the server's current nonce`,
    fix: "put the value of the latest DPoP-Nonce response header in the proof's nonce claim and retry once",
  }
}

function checkAlgorithmPolicy(
  header: Record<string, unknown> | undefined,
  algorithms: readonly string[] | undefined,
): ExplainedCheck {
  if (algorithms === undefined)
    return {
      check: 'alg-policy',
      status: 'skip',
      detail: 'no server algorithm list given (--algs)',
    }
  if (algorithms.includes(String(header?.alg)))
    return {
      check: 'alg-policy',
      status: 'pass',
      detail: `alg ${String(header?.alg)} is in the server's list`,
    }
  return {
    check: 'alg-policy',
    status: 'fail',
    detail: `alg ${String(header?.alg)} is not in the server's list (${algorithms.join(' ')})`,
    fix: 'make the key with one of the algorithms the server lists in its algs challenge',
  }
}

/**
 * Runs every proof check and explains each one.
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
  const header = decodeLenient(parts[0])
  const claims = decodeLenient(parts[1])
  const checks = await checkSyntax(trimmed, header, claims)
  if (trimmed.includes(',')) {
    checks[0] = {
      check: 'compact',
      status: 'fail',
      detail: 'the value contains a comma: two DPoP header fields were combined (RFC 9110 §5.3)',
      fix: 'send exactly one DPoP header field per request',
    }
  }
  checks.push(checkAlgorithmPolicy(header, context.algorithms))
  if (claims === undefined) {
    checks.push({
      check: 'request',
      status: 'skip',
      detail: 'the payload cannot be decoded, so the request checks cannot run',
    })
    return checks
  }
  checks.push(
    checkHtm(claims, context.method),
    checkHtu(claims, context.url),
    checkIat(claims, context),
  )
  checks.push(await checkAth(claims, context.accessToken))
  let proofJkt: string | undefined
  try {
    const jwk = header?.jwk
    if (typeof jwk === 'object' && jwk !== null)
      proofJkt = await calculateJwkThumbprint(jwk as PublicJwk)
  } catch {
    proofJkt = undefined
  }
  checks.push(await checkKeyBinding(proofJkt, context), checkNonce(claims, context.nonce))
  checks.push({
    check: 'replay',
    status: 'skip',
    detail: 'not checkable offline: only the server knows which jti it has seen',
  })
  return checks
}
