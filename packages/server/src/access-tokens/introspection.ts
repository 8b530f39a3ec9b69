/**
 * Opaque access tokens through RFC 7662 token introspection. The resource server authenticates
 * as a client, sends no DPoP proof (RFC 9449 §6.2: the binding is checked locally from `cnf`),
 * checks that the token was made for it (`aud`), caches active results until the token expires,
 * within a size and time bound, and remembers refused tokens briefly, so that a client repeating
 * a junk token does not cost one introspection call per request.
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.2
 */
import { invalidArgument } from '@keybound/core/internal'
import { AccessTokenInvalid, AccessTokenUnavailable } from '../errors.js'
import { hashToken, TokenCache } from '../lib/token-cache.js'
import type { AccessTokenInfo, AccessTokenValidator } from '../types.js'
import { infoFromClaims } from './claims.js'
import {
  profileOption,
  throwProblems,
  type AccessTokenProfile,
  type ProfileName,
} from './profiles.js'

/** Options of {@link introspectedAccessTokens}. Times are in seconds unless named `…Ms`. */
export interface IntrospectionOptions {
  /** The introspection endpoint URL. */
  endpoint: string | URL
  /** This resource server's client identifier at the authorization server. */
  clientId: string
  clientSecret: string
  /**
   * This resource server's identifier(s): the response's `aud` must contain one, or the token
   * is refused (`invalid_token`), so a token minted for another API (RFC 8707 `resource`) is not
   * accepted here. Required; `false` accepts any audience and must be chosen explicitly.
   */
  audience: string | readonly string[] | false
  /**
   * How the authorization server shapes its answers (default `rfc9068`): `keycloak`, `okta`,
   * `wso2`, `spring`, or your own {@link AccessTokenProfile}. Auth0 and Entra ID have no
   * introspection endpoint, so their profiles are refused here. See docs/identity-providers.md.
   */
  profile?: ProfileName | AccessTokenProfile
  /** How to authenticate (default `client_secret_basic`, RFC 6749 §2.3.1). */
  clientAuthMethod?: 'client_secret_basic' | 'client_secret_post'
  /** Most cached results (default 1000); the least recently used leave first. */
  cacheSize?: number
  /** Longest a result is cached, whatever its `exp` (default 300). 0 turns caching off. */
  cacheMaxAge?: number
  /**
   * How long a refused token (inactive, expired, wrong audience, bad `cnf`) is answered from
   * memory without asking again (default 10, at most 60; 0 turns it off). Short, because an
   * authorization server whose replicas lag may call a brand-new token inactive for a moment.
   * Failures to reach the endpoint are never remembered. Bounded by `cacheSize` on its own.
   */
  negativeCacheMaxAge?: number
  /** Introspection request timeout in milliseconds (default 5000). */
  timeoutMs?: number
  /** `fetch` to use (default the global one). */
  fetch?: typeof fetch
  /** Current time in milliseconds (default `Date.now`); for tests. */
  now?: () => number
}

// RFC 6749 §2.3.1: both parts are form-encoded before they are joined and base64-encoded.
function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+')
  const bytes = new TextEncoder().encode(`${encode(clientId)}:${encode(clientSecret)}`)
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return `Basic ${btoa(binary)}`
}

function unavailable(reason: string, cause?: unknown, details?: Record<string, unknown>): never {
  throw new AccessTokenUnavailable('token introspection failed', {
    reason,
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  })
}

const MAX_NEGATIVE_CACHE_AGE = 60

/** Why a token was refused, remembered for a moment (never the token itself). */
interface Refusal {
  reason: string
  claim?: string
}

function invalid(reason: string, claim?: string): never {
  throw new AccessTokenInvalid('access token is not valid', {
    reason,
    ...(claim === undefined ? {} : { claim }),
  })
}

// RFC 9449 §6.2: `token_type`, when present, MUST be DPoP for a bound token; a DPoP token type
// without `cnf.jkt` leaves nothing to check the binding against. Both refuse the token.
async function checkResponse(
  response: Record<string, unknown>,
  nowSeconds: number,
  audience: readonly string[] | false,
  profile: AccessTokenProfile,
): Promise<AccessTokenInfo> {
  if (response.active !== true) invalid('inactive', 'active')
  checkAudience(response.aud, audience)
  profile.checkClaims?.(response)
  const info = await infoFromClaims(response, profile)
  const tokenType = response.token_type
  const dpopType = typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop'
  if (info.jkt !== undefined && tokenType !== undefined && !dpopType)
    invalid('token_type is not DPoP', 'token_type')
  if (info.jkt === undefined && dpopType) invalid('DPoP token without cnf.jkt', 'cnf')
  if (typeof response.exp === 'number' && response.exp <= nowSeconds) invalid('expired', 'exp')
  if (typeof response.nbf === 'number' && response.nbf > nowSeconds) invalid('not yet valid', 'nbf')
  return info
}

// RFC 7662 §2.2: `aud` is a string or an array of strings; a response without one is refused
// unless the operator chose to accept any audience.
function checkAudience(aud: unknown, audience: readonly string[] | false): void {
  if (audience === false) return
  const values = Array.isArray(aud) ? aud : [aud]
  if (!values.some((value) => typeof value === 'string' && audience.includes(value)))
    invalid(aud === undefined ? 'aud missing' : 'aud mismatch', 'aud')
}

function checkAudienceOption(audience: unknown): readonly string[] | false {
  if (audience === false) return false
  const values = typeof audience === 'string' ? [audience] : audience
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((value) => typeof value === 'string' && value !== '')
  ) {
    throw invalidArgument(
      'audience',
      "this server's identifier(s), or false to accept any audience",
    )
  }
  return Object.freeze([...values])
}

// The configured identifiers plus the other forms the provider writes them in (Entra: the
// application ID for `api://<application ID>`).
function audienceForms(
  audience: readonly string[] | false,
  profile: AccessTokenProfile,
): readonly string[] | false {
  if (audience === false) return false
  const forms = profile.audienceForms(audience)
  if (!Array.isArray(forms) || !forms.every((form) => typeof form === 'string' && form !== ''))
    throw invalidArgument('profile.audienceForms', 'a function returning non-empty strings')
  return Object.freeze([...forms])
}

// A bad URL was a bare TypeError from `new URL`; it is a bad argument like any other.
function endpointOf(value: unknown): string {
  try {
    return new URL(value as string).href
  } catch {
    throw invalidArgument('endpoint', 'an absolute URL')
  }
}

function checkNegativeCacheMaxAge(value: unknown): number {
  if (value === undefined) return 10
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    value > MAX_NEGATIVE_CACHE_AGE
  ) {
    throw invalidArgument(
      'negativeCacheMaxAge',
      `a number of seconds from 0 to ${MAX_NEGATIVE_CACHE_AGE}`,
    )
  }
  return value
}

/**
 * Validates opaque access tokens through RFC 7662 introspection.
 *
 * @example
 * ```ts
 * const accessTokens = introspectedAccessTokens({
 *   endpoint: 'https://as.example.com/introspect',
 *   clientId: 'api',
 *   clientSecret: process.env.INTROSPECTION_SECRET!,
 *   audience: 'https://api.example.com',
 * })
 * const resourceServer = createResourceServer({ publicBaseUrl: 'https://api.example.com', accessTokens })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.2
 */
export function introspectedAccessTokens(options: IntrospectionOptions): AccessTokenValidator & {
  /** Number of cached results (for tests and metrics). */
  readonly cacheSize: number
} {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  if (typeof options.clientId !== 'string') throw invalidArgument('clientId', 'a string')
  if (typeof options.clientSecret !== 'string') throw invalidArgument('clientSecret', 'a string')
  const endpoint = endpointOf(options.endpoint)
  const method = options.clientAuthMethod ?? 'client_secret_basic'
  if (method !== 'client_secret_basic' && method !== 'client_secret_post')
    throw invalidArgument('clientAuthMethod', 'client_secret_basic or client_secret_post')
  const { profile, problems } = profileOption(options.profile, 'profile')
  if (problems.length === 0 && !profile.introspection)
    problems.push(
      `profile: ${profile.name} has no RFC 7662 introspection endpoint; use jwtAccessTokens`,
    )
  throwProblems(problems)
  const audience = audienceForms(checkAudienceOption(options.audience), profile)
  const now = options.now ?? Date.now
  const maxAgeMs = (options.cacheMaxAge ?? 300) * 1000
  const negativeMaxAgeMs = checkNegativeCacheMaxAge(options.negativeCacheMaxAge) * 1000
  const cache = new TokenCache<AccessTokenInfo>(options.cacheSize ?? 1000, now)
  // Its own bound: a flood of junk tokens cannot push active tokens out of `cache`.
  const refusals = new TokenCache<Refusal>(options.cacheSize ?? 1000, now)
  const pending = new Map<string, Promise<AccessTokenInfo>>()
  const fetchImpl = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 5000

  async function introspect(token: string): Promise<AccessTokenInfo> {
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' })
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    }
    if (method === 'client_secret_basic')
      headers.Authorization = basicCredentials(options.clientId, options.clientSecret)
    else {
      body.set('client_id', options.clientId)
      body.set('client_secret', options.clientSecret)
    }
    let response: Response
    try {
      response = await fetchImpl(endpoint, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (error) {
      unavailable('unreachable', error)
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined)
      unavailable('http status', undefined, { status: response.status })
    }
    let json: unknown
    try {
      json = await response.json()
    } catch (error) {
      unavailable('not JSON', error)
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      unavailable('not a JSON object')
    return checkResponse(
      json as Record<string, unknown>,
      Math.floor(now() / 1000),
      audience,
      profile,
    )
  }

  async function introspectRemembering(key: string, token: string): Promise<AccessTokenInfo> {
    try {
      return await introspect(token)
    } catch (error) {
      if (error instanceof AccessTokenInvalid && negativeMaxAgeMs > 0) {
        const refusal: Refusal = { reason: error.reason ?? 'refused' }
        if (error.claim !== undefined) refusal.claim = error.claim
        refusals.set(key, refusal, now() + negativeMaxAgeMs)
      }
      throw error
    }
  }

  async function validateFresh(key: string, token: string): Promise<AccessTokenInfo> {
    const info = await introspectRemembering(key, token)
    const expiresAt = info.expiresAt === undefined ? Infinity : info.expiresAt * 1000
    // Cached until the token expires, but never longer than cacheMaxAge (revocation shows up then).
    cache.set(key, info, Math.min(expiresAt, now() + maxAgeMs))
    return info
  }

  return {
    get cacheSize() {
      return cache.size
    },
    async validate(token, context) {
      const key = context?.tokenHash ?? (await hashToken(token))
      const cached = cache.get(key)
      if (cached !== undefined) return cached
      const refused = refusals.get(key)
      if (refused !== undefined) invalid(refused.reason, refused.claim)
      // Concurrent requests with one token share one introspection call.
      let inflight = pending.get(key)
      if (inflight === undefined) {
        inflight = validateFresh(key, token).finally(() => pending.delete(key))
        pending.set(key, inflight)
      }
      return inflight
    },
  }
}
