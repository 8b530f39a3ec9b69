/**
 * RFC 9068 JWT access tokens, verified with the issuer's keys through `jose` (remote JWKS with
 * caching and refetch on an unknown `kid`, so key rotation at the issuer is picked up). A token
 * profile relaxes RFC 9068 where a provider documents another shape; the keys come from
 * `jwksUri`, `jwks`, or the issuer's metadata (RFC 8414 / OpenID discovery); several issuers
 * can share one validator, each with its own profile and audience.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
import { InvalidArgument } from '@keybound/core'
import {
  DEFAULT_CLOCK_TOLERANCE,
  invalidArgument,
  SUPPORTED_ALGORITHMS,
} from '@keybound/core/internal'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type JWTVerifyGetKey,
  type RemoteJWKSetOptions,
} from 'jose'
import { AccessTokenInvalid, AccessTokenUnavailable } from '../errors.js'
import { hashToken, TokenCache } from '../lib/token-cache.js'
import type { AccessTokenInfo, AccessTokenValidator } from '../types.js'
import { infoFromClaims } from './claims.js'
import { discoveredKeySet, isSafeUrl } from './discovery.js'
import {
  acceptsHeaderType,
  profileOption,
  RFC9068_PROFILE,
  throwProblems,
  type AccessTokenProfile,
  type ProfileName,
} from './profiles.js'

/** Options of {@link jwtAccessTokens}. Times are in seconds unless named `…Ms`. */
export interface JwtAccessTokenOptions {
  /** Exact `iss` expected. */
  issuer: string
  /** This resource server's identifier(s); `aud` must contain one. */
  audience: string | readonly string[]
  /**
   * How the issuer shapes its tokens (default `rfc9068`, strict): `keycloak`, `auth0`, `okta`,
   * `entra`, `wso2`, `spring`, or your own {@link AccessTokenProfile}. See
   * docs/identity-providers.md.
   */
  profile?: ProfileName | AccessTokenProfile
  /**
   * The issuer's JWKS URL (fetched with `jose`'s `createRemoteJWKSet`). Without it and without
   * `jwks`, the URL is discovered from the issuer's metadata (RFC 8414, then OpenID discovery),
   * whose `issuer` must equal `issuer` exactly.
   */
  jwksUri?: string | URL
  /** A static JWKS instead of `jwksUri`. */
  jwks?: JSONWebKeySet
  /** Metadata request timeout in milliseconds, for discovery (default 5000). */
  discoveryTimeoutMs?: number
  /** Signature algorithms accepted for the token (default: every asymmetric JWS algorithm). */
  algorithms?: readonly string[]
  /** Leeway for `exp`/`nbf`/`iat` (default 10). */
  clockTolerance?: number
  /** Claims that must be present (default: RFC 9068 §2.2's `iss exp aud sub client_id iat jti`). */
  requiredClaims?: readonly string[]
  /** Passed to `createRemoteJWKSet` (`cooldownDuration`, `cacheMaxAge`, `timeoutDuration`, …). */
  jwksOptions?: RemoteJWKSetOptions
  /**
   * Most verified tokens remembered (default 10,000; 0 turns the cache off). A returning token
   * then costs a hash instead of a signature check. Entries are keyed by a SHA-256 of the token.
   */
  cacheSize?: number
  /** Longest a verified token is remembered, whatever its `exp` (default 300). */
  cacheMaxAge?: number
  /** Current time in milliseconds (default `Date.now`); for tests. */
  now?: () => number
}

/**
 * Options of {@link jwtAccessTokens} for several issuers: each entry is a full set of options
 * for one issuer (its own profile, audience and keys). A token goes to the entry whose `issuer`
 * equals its (not yet verified) `iss`, and is then verified fully with that entry alone.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export interface MultiIssuerJwtOptions {
  issuers: readonly JwtAccessTokenOptions[]
}

// A JWT access token is signed with the same asymmetric JWS algorithms a proof may use.
const DEFAULT_ALGORITHMS: readonly string[] = SUPPORTED_ALGORITHMS
/** A token that passed verification, with the key that verified it. */
interface VerifiedToken {
  info: AccessTokenInfo
  header: JWTHeaderParameters
  key: unknown
}

// jose's key sets choose a key from the protected header (and the unprotected header of a JSON
// serialization, which a compact token has none of), never from the token's other parts; a
// remembered token is re-checked against its header alone, and nothing of the token is kept.
const KEY_LOOKUP_INPUT = Object.freeze({ protected: '', payload: '', signature: '' })

// The token is at fault: refuse it. Anything else (JWKS timeout, unreachable, not JSON, not a
// JWKS) means we could not tell: answer 503, never acceptance and never a misleading 401.
const TOKEN_FAULTS = new Set<string>([
  errors.JWTClaimValidationFailed.code,
  errors.JWTExpired.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWSInvalid.code,
  errors.JWTInvalid.code,
  errors.JWKInvalid.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JWSSignatureVerificationFailed.code,
])

/** What the token's claims were checked against, for the failure detail. */
interface ClaimExpectations {
  issuer: string
  audience: string | readonly string[]
  clockTolerance: number
  nowMs: number
}

// Token claims are the sender's text: quoted as JSON (no raw line breaks in a log line) and cut.
const MAX_SHOWN = 120

function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  const text = JSON.stringify(value) ?? String(value)
  return text.length <= MAX_SHOWN ? text : `${text.slice(0, MAX_SHOWN)}…`
}

function showTime(seconds: number): string {
  const date = new Date(seconds * 1000)
  return Number.isNaN(date.getTime()) ? show(seconds) : `${seconds} (${date.toISOString()})`
}

function expectedAudience(audience: string | readonly string[]): string {
  return typeof audience === 'string' || audience.length === 1
    ? show(typeof audience === 'string' ? audience : audience[0])
    : `one of ${show(audience)}`
}

function readTyp(token: string): unknown {
  try {
    return decodeProtectedHeader(token).typ
  } catch {
    return undefined
  }
}

/**
 * The failing claim with the value expected and the value found, for the server-side outcome
 * (`onOutcome` detail, logs): e.g. `aud expected "https://a.example", got "https://b.example"`.
 * The client only ever gets `invalid_token`.
 */
function describeClaimFailure(
  error: { claim?: unknown; reason?: unknown; payload?: unknown; message?: unknown },
  token: string,
  expected: ClaimExpectations,
): string {
  const claim = typeof error.claim === 'string' ? error.claim : 'unspecified'
  const payload = (error.payload ?? {}) as Record<string, unknown>
  const actual = payload[claim]
  const nowSeconds = Math.floor(expected.nowMs / 1000)
  if (error.reason === 'missing') return `${claim} expected to be present, got nothing`
  if (error.reason === 'invalid') return `${claim} expected a number, got ${show(actual)}`
  switch (claim) {
    case 'aud':
      return `aud expected ${expectedAudience(expected.audience)}, got ${show(actual)}`
    case 'iss':
      return `iss expected ${show(expected.issuer)}, got ${show(actual)}`
    case 'typ':
      return `typ expected "at+jwt", got ${show(readTyp(token))}`
    case 'exp':
      return `exp expected after ${showTime(nowSeconds - expected.clockTolerance)}, got ${showTime(actual as number)}`
    case 'nbf':
      return `nbf expected at most ${showTime(nowSeconds + expected.clockTolerance)}, got ${showTime(actual as number)}`
    default:
      return `${claim}: ${String(error.message)}`
  }
}

// A claim check that failed (jose names the claim): the detail gives the values compared.
const CLAIM_FAULTS = new Set<string>([errors.JWTClaimValidationFailed.code, errors.JWTExpired.code])

function classify(error: unknown, token: string, expected: ClaimExpectations): never {
  // Discovery failures arrive already classified (issuer mismatch, metadata unreachable).
  if (error instanceof AccessTokenUnavailable || error instanceof AccessTokenInvalid) throw error
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && TOKEN_FAULTS.has(code)) {
    const claim = (error as { claim?: unknown }).claim
    const described = CLAIM_FAULTS.has(code)
      ? describeClaimFailure(error as object, token, expected)
      : undefined
    throw new AccessTokenInvalid(
      described === undefined
        ? 'access token is not valid'
        : `access token is not valid: ${described}`,
      {
        // jose's code is the stable identifier; the values compared go in `details`.
        reason: code,
        ...(described === undefined ? {} : { details: { description: described } }),
        ...(typeof claim === 'string' ? { claim } : {}),
        cause: error,
      },
    )
  }
  throw new AccessTokenUnavailable('access token keys could not be obtained', {
    reason: typeof code === 'string' ? code : 'jwks unavailable',
    cause: error,
  })
}

// Discovery needs an issuer it may fetch from: anything else is a configuration error now,
// not a 503 on every request later.
function checkDiscoverable(issuer: string, path: string): void {
  let url: URL | undefined
  try {
    url = new URL(issuer)
  } catch {
    url = undefined
  }
  if (url === undefined || !isSafeUrl(url)) {
    throwProblems([
      `${path === '' ? 'issuer' : `${path}.issuer`}: must be an https URL (http only on loopback) to discover its keys; or give jwksUri or jwks`,
    ])
  }
}

function keySource(options: JwtAccessTokenOptions, path: string): JWTVerifyGetKey {
  if (options.jwks !== undefined) return createLocalJWKSet(options.jwks)
  if (options.jwksUri === undefined) {
    checkDiscoverable(options.issuer, path)
    return discoveredKeySet(options.issuer, {
      timeoutMs: options.discoveryTimeoutMs ?? 5000,
      ...(options.jwksOptions === undefined ? {} : { jwksOptions: options.jwksOptions }),
    })
  }
  return createRemoteJWKSet(new URL(options.jwksUri), options.jwksOptions)
}

/** One issuer's options, checked; every problem is named with its path. */
interface CheckedOptions {
  issuer: string
  audience: string | string[]
  profile: AccessTokenProfile
  algorithms: string[]
}

function audienceProblems(audience: unknown, path: string): string[] {
  const values = typeof audience === 'string' ? [audience] : audience
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((value) => typeof value === 'string' && value !== '')
  )
    return [`${path}: audience is required (this server's identifier, or a list of them)`]
  return []
}

function checkOptions(options: JwtAccessTokenOptions, path: string): CheckedOptions {
  const at = (field: string) => (path === '' ? field : `${path}.${field}`)
  const problems: string[] = []
  if (typeof options?.issuer !== 'string' || options.issuer === '')
    problems.push(`${at('issuer')}: issuer is required`)
  problems.push(...audienceProblems(options?.audience, at('audience')))
  const algorithms = [...(options?.algorithms ?? DEFAULT_ALGORITHMS)]
  if (algorithms.some((alg) => alg === 'none' || alg.startsWith('HS')))
    problems.push(`${at('algorithms')}: access token algorithms must be asymmetric`)
  const { profile, problems: profileErrors } = profileOption(options?.profile, at('profile'))
  problems.push(...profileErrors)
  throwProblems(problems)
  const configured =
    typeof options.audience === 'string' ? [options.audience] : [...options.audience]
  const forms = profile.audienceForms(configured)
  throwProblems(audienceProblems(forms, `${at('profile')}.audienceForms`))
  const audience =
    typeof options.audience === 'string' && forms.length === 1 ? forms[0]! : [...forms]
  return { issuer: options.issuer, audience, profile, algorithms }
}

/** The verified token's header `typ`, checked against a profile other than RFC 9068. */
function checkHeaderType(profile: AccessTokenProfile, typ: unknown): void {
  if (acceptsHeaderType(profile, typ)) return
  const expected = profile.headerTypes.map((type) => (type === null ? 'none' : show(type)))
  throw new AccessTokenInvalid(
    `access token is not valid: typ expected ${expected.join(' or ')} (${profile.name} profile), got ${show(typ)}`,
    { claim: 'typ', reason: 'typ not accepted', details: { profile: profile.name } },
  )
}

function singleIssuerValidator(options: JwtAccessTokenOptions, path: string): AccessTokenValidator {
  const { issuer, audience, profile, algorithms } = checkOptions(options, path)
  const getKey = keySource(options, path)
  const requiredClaims = [...(options.requiredClaims ?? profile.requiredClaims)]
  // RFC 9068 keeps jose's own `typ` check (and its failure detail); other profiles check the
  // verified header themselves, against the values their provider documents.
  const strict = profile === RFC9068_PROFILE
  // The proof's tolerance: a token and its proof are judged by the same clock allowance.
  const clockTolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE
  const now = options.now
  const clock = now ?? Date.now
  const cache = new TokenCache<VerifiedToken>(options.cacheSize ?? 10_000, clock)
  const maxAgeMs = (options.cacheMaxAge ?? 300) * 1000

  async function verifyToken(token: string): Promise<VerifiedToken> {
    let payload: Record<string, unknown>
    let header: JWTHeaderParameters
    let key: unknown
    try {
      const result = await jwtVerify(
        token,
        async (protectedHeader, input) => (key = await getKey(protectedHeader, input)),
        {
          issuer,
          audience,
          ...(strict ? { typ: 'at+jwt' } : {}),
          algorithms,
          clockTolerance,
          requiredClaims,
          ...(now === undefined ? {} : { currentDate: new Date(now()) }),
        },
      )
      payload = result.payload as Record<string, unknown>
      header = result.protectedHeader
    } catch (error) {
      classify(error, token, { issuer, audience, clockTolerance, nowMs: clock() })
    }
    if (!strict) checkHeaderType(profile, header.typ)
    profile.checkClaims?.(payload)
    return { info: await infoFromClaims(payload, profile), header, key }
  }

  // A remembered token stays valid only while the issuer still publishes the very key that
  // signed it: the key set answers from its own cache, and after a rotation it hands out new
  // key objects (or none), which sends the token back through full verification.
  async function isStillPublished(entry: VerifiedToken): Promise<boolean> {
    try {
      return (await getKey(entry.header, KEY_LOOKUP_INPUT)) === entry.key
    } catch {
      return false
    }
  }

  return {
    async validate(token, context) {
      if (cache.capacity <= 0 || maxAgeMs <= 0) return (await verifyToken(token)).info
      const cacheKey = context?.tokenHash ?? (await hashToken(token))
      const cached = cache.get(cacheKey)
      if (cached !== undefined && (await isStillPublished(cached))) return cached.info
      const verified = await verifyToken(token)
      const expiresAt = verified.info.expiresAt
      // Only until the token expires (exp is required), and never past cacheMaxAge.
      if (expiresAt !== undefined)
        cache.set(cacheKey, verified, Math.min(expiresAt * 1000, clock() + maxAgeMs))
      return verified.info
    },
  }
}

// The unverified `iss` only chooses which issuer's options verify the token; the chosen
// validator then checks `iss` again, with the signature, so a forged `iss` gains nothing.
function unverifiedIssuer(token: string): string {
  let iss: unknown
  try {
    iss = decodeJwt(token).iss
  } catch (error) {
    throw new AccessTokenInvalid('access token is not valid: not a JWT', {
      reason: 'not a JWT',
      cause: error,
    })
  }
  if (typeof iss !== 'string')
    throw new AccessTokenInvalid('access token is not valid: iss missing', {
      claim: 'iss',
      reason: 'iss missing',
    })
  return iss
}

function multiIssuerValidator(options: MultiIssuerJwtOptions): AccessTokenValidator {
  const entries = options.issuers
  if (!Array.isArray(entries) || entries.length === 0)
    throw invalidArgument('issuers', 'a non-empty array')
  const problems: string[] = []
  const byIssuer = new Map<string, AccessTokenValidator>()
  entries.forEach((entry, index) => {
    const path = `issuers[${index}]`
    try {
      const validator = singleIssuerValidator(entry, path)
      if (byIssuer.has(entry.issuer))
        problems.push(`${path}.issuer: ${show(entry.issuer)} is listed twice`)
      byIssuer.set(entry.issuer, validator)
    } catch (error) {
      if (!(error instanceof InvalidArgument)) throw error
      problems.push(error.message)
    }
  })
  throwProblems(problems)
  return {
    async validate(token, context) {
      const iss = unverifiedIssuer(token)
      const validator = byIssuer.get(iss)
      if (validator === undefined) {
        throw new AccessTokenInvalid(
          `access token is not valid: iss ${show(iss)} is not accepted`,
          {
            claim: 'iss',
            reason: 'unknown issuer',
          },
        )
      }
      return validator.validate(token, context)
    },
  }
}

/**
 * Validates JWT access tokens. By default as RFC 9068 says: `typ` `at+jwt` (or
 * `application/at+jwt`), exact `iss`, `aud` containing this server, signature by the issuer's
 * keys (`none` and symmetric algorithms never), `exp`/`nbf` with leeway, and the RFC 9068
 * required claims. `profile` accepts another provider's documented shape instead. `cnf.jkt`,
 * when present, makes the token DPoP-bound (RFC 9449 §6.1). Without `jwksUri` or `jwks`, the
 * keys are found through the issuer's metadata (RFC 8414 §3, OpenID Connect Discovery §4). With
 * `issuers`, tokens of several issuers are accepted, each verified with its own options.
 *
 * @example
 * ```ts
 * const accessTokens = jwtAccessTokens({
 *   issuer: 'https://as.example.com',
 *   audience: 'https://api.example.com',
 *   jwksUri: 'https://as.example.com/jwks',
 * })
 * const resourceServer = createResourceServer({ publicBaseUrl: 'https://api.example.com', accessTokens })
 * ```
 * @example
 * ```ts
 * const accessTokens = jwtAccessTokens({
 *   issuers: [
 *     { issuer: 'https://sso.example.com/realms/staff', audience: 'orders-api', profile: 'keycloak' },
 *     { issuer: 'https://example.okta.com/oauth2/default', audience: 'api://orders', profile: 'okta' },
 *   ],
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.1
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function jwtAccessTokens(
  options: JwtAccessTokenOptions | MultiIssuerJwtOptions,
): AccessTokenValidator {
  if (options !== null && typeof options === 'object' && 'issuers' in options)
    return multiIssuerValidator(options)
  return singleIssuerValidator(options, '')
}
