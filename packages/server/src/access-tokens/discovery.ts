/**
 * Finding an issuer's `jwks_uri` from its metadata: RFC 8414 authorization-server metadata or
 * OpenID Connect Discovery. The metadata's `issuer` must equal the configured issuer exactly
 * (RFC 8414 §3.3, OpenID Connect Discovery §4.3), or the keys it points to are not used.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, type RemoteJWKSetOptions } from 'jose'
import { AccessTokenUnavailable } from '../errors.js'

/**
 * How {@link discoveredKeySet} looks the metadata up.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export interface DiscoveryOptions {
  /** Per-request timeout in milliseconds. */
  timeoutMs: number
  /** Passed on to `createRemoteJWKSet` once `jwks_uri` is known. */
  jwksOptions?: RemoteJWKSetOptions
  /** How long a failed discovery is remembered before it is tried again (default 5000 ms). */
  retryAfterMs?: number
  /** `fetch` to use (default the global one). */
  fetch?: typeof fetch
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * Whether metadata or keys may be fetched from `url`: https, or plain http on loopback only.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function isSafeUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
}

/**
 * Where the metadata may be, in the order tried: RFC 8414 §3.1 (well-known segment between host
 * and path), OpenID Connect Discovery §4 (appended to the issuer), and RFC 8414 appended, which
 * RFC 8414 §5 notes some servers use (Keycloak, Okta custom authorization servers).
 * @example
 * ```ts
 * metadataUrls('https://sso.example.com/realms/shop')[0] // 'https://sso.example.com/.well-known/oauth-authorization-server/realms/shop'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer)
  const path = url.pathname.replace(/\/+$/, '')
  const origin = url.origin
  const urls = [
    `${origin}/.well-known/oauth-authorization-server${path}`,
    `${origin}${path}/.well-known/openid-configuration`,
    `${origin}${path}/.well-known/oauth-authorization-server`,
  ]
  return [...new Set(urls)]
}

function unavailable(
  message: string,
  reason: string,
  cause?: unknown,
  details?: Record<string, unknown>,
): never {
  throw new AccessTokenUnavailable(message, {
    reason,
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  })
}

/** One metadata document, or `undefined` when the server has none at `url` (404 and the like). */
async function fetchMetadata(
  url: string,
  options: DiscoveryOptions,
): Promise<Record<string, unknown> | undefined> {
  let response: Response
  try {
    response = await (options.fetch ?? globalThis.fetch)(url, {
      headers: { Accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    })
  } catch (error) {
    unavailable('issuer metadata could not be fetched', 'metadata unreachable', error)
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined)
    if (response.status >= 500)
      unavailable('issuer metadata could not be fetched', 'metadata http status', undefined, {
        status: response.status,
      })
    return undefined
  }
  let json: unknown
  try {
    json = await response.json()
  } catch (error) {
    unavailable('issuer metadata is not JSON', 'metadata not JSON', error)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    unavailable('issuer metadata is not a JSON object', 'metadata not an object')
  return json as Record<string, unknown>
}

/**
 * The `jwks_uri` the issuer's own metadata names, after checking that it is the issuer's.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.3
 */
export async function discoverJwksUri(issuer: string, options: DiscoveryOptions): Promise<URL> {
  for (const url of metadataUrls(issuer)) {
    const metadata = await fetchMetadata(url, options)
    if (metadata === undefined) continue
    // RFC 8414 §3.3: a document naming another issuer must not be used (mix-up, impersonation).
    if (metadata.issuer !== issuer) {
      unavailable(
        `issuer metadata at ${url} names issuer ${JSON.stringify(metadata.issuer) ?? 'nothing'}, not ${JSON.stringify(issuer)}`,
        'metadata issuer mismatch',
      )
    }
    let jwksUri: URL | undefined
    try {
      if (typeof metadata.jwks_uri === 'string') jwksUri = new URL(metadata.jwks_uri)
    } catch {
      jwksUri = undefined
    }
    if (jwksUri === undefined || !isSafeUrl(jwksUri))
      unavailable(`issuer metadata at ${url} has no usable jwks_uri`, 'metadata jwks_uri invalid')
    return jwksUri
  }
  return unavailable(`no metadata found for issuer ${JSON.stringify(issuer)}`, 'metadata not found')
}

/**
 * A key source for `jwtVerify` that discovers `jwks_uri` on first use and then behaves like
 * `createRemoteJWKSet` (its cache, its refetch on an unknown `kid`). A failed discovery answers
 * every token with `AccessTokenUnavailable` (503) for `retryAfterMs`, then is tried again.
 * The issuer must be an https URL (or http on loopback); the caller checks that.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function discoveredKeySet(issuer: string, options: DiscoveryOptions): JWTVerifyGetKey {
  const retryAfterMs = options.retryAfterMs ?? 5000
  let keySet: Promise<JWTVerifyGetKey> | undefined
  let failedAt = 0

  function resolveKeySet(): Promise<JWTVerifyGetKey> {
    if (keySet === undefined || (failedAt !== 0 && Date.now() - failedAt >= retryAfterMs)) {
      failedAt = 0
      keySet = discoverJwksUri(issuer, options).then(
        (jwksUri) => createRemoteJWKSet(jwksUri, options.jwksOptions),
        (error: unknown) => {
          failedAt = Date.now()
          throw error
        },
      )
    }
    return keySet
  }

  return async (...args: Parameters<JWTVerifyGetKey>) => (await resolveKeySet())(...args)
}
