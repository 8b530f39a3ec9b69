/**
 * Authorization server metadata discovery: RFC 8414 first, then OpenID Connect Discovery.
 * @packageDocumentation
 */
import type { FetchLike } from './dpop-fetch.js'
import { DiscoveryFailed, InvalidResponse, IssuerMismatch, NetworkError } from './errors.js'
import { assertSecureUrl, parseUrl } from './lib/urls.js'

/** Authorization server metadata (RFC 8414 §2), the members the client uses and any others. */
export interface AuthorizationServerMetadata {
  issuer: string
  authorization_endpoint?: string
  token_endpoint?: string
  pushed_authorization_request_endpoint?: string
  require_pushed_authorization_requests?: boolean
  dpop_signing_alg_values_supported?: string[]
  authorization_response_iss_parameter_supported?: boolean
  code_challenge_methods_supported?: string[]
  token_endpoint_auth_methods_supported?: string[]
  jwks_uri?: string
  [member: string]: unknown
}

/** Options of {@link discover}. */
export interface DiscoverOptions {
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: FetchLike
  /** Allow plain `http:` to hosts that are not loopback (tests only). */
  allowInsecureHttp?: boolean
}

function candidateUrls(issuer: URL): string[] {
  const path = issuer.pathname.replace(/\/$/, '')
  return [
    // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
    `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
    // OpenID Connect Discovery §4: appended to the issuer.
    `${issuer.origin}${path}/.well-known/openid-configuration`,
  ]
}

/**
 * Fetches the metadata of the authorization server `issuer`: RFC 8414
 * `/.well-known/oauth-authorization-server` first, then `/.well-known/openid-configuration`.
 * The document's `issuer` must be exactly `issuer` (RFC 8414 §3.3).
 * @example
 * ```ts
 * const metadata = await discover('https://as.example.com')
 * const tokens = createTokenClient({ metadata, clientId: 'spa', key })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export async function discover(
  issuer: string,
  options: DiscoverOptions = {},
): Promise<AuthorizationServerMetadata> {
  const url = parseUrl(issuer, 'issuer')
  assertSecureUrl(url, options.allowInsecureHttp ?? false)
  const callFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  let last: Response | undefined
  for (const candidate of candidateUrls(url)) {
    let response: Response
    try {
      response = await callFetch(candidate, { headers: { accept: 'application/json' } })
    } catch (cause) {
      throw new NetworkError(`metadata request to ${url.origin} failed`, { cause })
    }
    if (!response.ok) {
      last = response
      response.body?.cancel().catch(() => {})
      continue
    }
    let metadata: AuthorizationServerMetadata
    try {
      metadata = (await response.json()) as AuthorizationServerMetadata
    } catch (cause) {
      throw new InvalidResponse('authorization server metadata is not JSON', { cause, response })
    }
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new InvalidResponse('authorization server metadata is not a JSON object', { response })
    }
    if (metadata.issuer !== issuer) {
      throw new IssuerMismatch('metadata "issuer" does not match the issuer it was fetched for', {
        response,
      })
    }
    return metadata
  }
  throw new DiscoveryFailed(`no authorization server metadata found for ${issuer}`, {
    ...(last === undefined ? {} : { response: last }),
  })
}
