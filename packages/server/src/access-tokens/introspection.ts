/**
 * Opaque access tokens through RFC 7662 token introspection. The resource server authenticates
 * as a client, sends no DPoP proof (RFC 9449 §6.2: the binding is checked locally from `cnf`),
 * and caches active results until the token expires, within a size and time bound.
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.2
 */
import { InvalidArgument } from '@keybound/core'
import { AccessTokenInvalid, AccessTokenUnavailable } from '../errors.js'
import { hashToken, TokenCache } from '../lib/token-cache.js'
import type { AccessTokenInfo, AccessTokenValidator } from '../types.js'
import { infoFromClaims } from './claims.js'

/** Options of {@link introspectedAccessTokens}. Times are in seconds unless named `…Ms`. */
export interface IntrospectionOptions {
  /** The introspection endpoint URL. */
  endpoint: string | URL
  /** This resource server's client identifier at the authorization server. */
  clientId: string
  clientSecret: string
  /** How to authenticate (default `client_secret_basic`, RFC 6749 §2.3.1). */
  clientAuthMethod?: 'client_secret_basic' | 'client_secret_post'
  /** Most cached results (default 1000); the least recently used leave first. */
  cacheSize?: number
  /** Longest a result is cached, whatever its `exp` (default 300). 0 turns caching off. */
  cacheMaxAge?: number
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

function unavailable(reason: string, cause?: unknown): never {
  throw new AccessTokenUnavailable('token introspection failed', {
    reason,
    ...(cause === undefined ? {} : { cause }),
  })
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
): Promise<AccessTokenInfo> {
  if (response.active !== true) invalid('inactive', 'active')
  const info = await infoFromClaims(response)
  const tokenType = response.token_type
  const dpopType = typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop'
  if (info.jkt !== undefined && tokenType !== undefined && !dpopType)
    invalid('token_type is not DPoP', 'token_type')
  if (info.jkt === undefined && dpopType) invalid('DPoP token without cnf.jkt', 'cnf')
  if (typeof response.exp === 'number' && response.exp <= nowSeconds) invalid('expired', 'exp')
  if (typeof response.nbf === 'number' && response.nbf > nowSeconds) invalid('not yet valid', 'nbf')
  return info
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
  if (typeof options?.clientId !== 'string' || typeof options.clientSecret !== 'string') {
    throw new InvalidArgument('clientId and clientSecret are required')
  }
  const endpoint = new URL(options.endpoint).href
  const method = options.clientAuthMethod ?? 'client_secret_basic'
  if (method !== 'client_secret_basic' && method !== 'client_secret_post')
    throw new InvalidArgument('unsupported clientAuthMethod')
  const now = options.now ?? Date.now
  const maxAgeMs = (options.cacheMaxAge ?? 300) * 1000
  const cache = new TokenCache<AccessTokenInfo>(options.cacheSize ?? 1000, now)
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
      unavailable(`status ${response.status}`)
    }
    let json: unknown
    try {
      json = await response.json()
    } catch (error) {
      unavailable('not JSON', error)
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      unavailable('not a JSON object')
    return checkResponse(json as Record<string, unknown>, Math.floor(now() / 1000))
  }

  async function validateFresh(key: string, token: string): Promise<AccessTokenInfo> {
    const info = await introspect(token)
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
