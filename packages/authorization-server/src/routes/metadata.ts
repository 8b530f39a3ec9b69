/**
 * Authorization server metadata (RFC 8414) with the DPoP entries of RFC 9449 §5.1, served at
 * `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`, and the
 * JWKS of the access-token signing keys.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5.1
 * @packageDocumentation
 */
import type { ServerContext } from '../context.js'
import { CLIENT_ASSERTION_ALGORITHMS, REQUEST_OBJECT_ALGORITHMS } from '../keys/jws-algorithms.js'
import { FAPI2_ALGORITHMS } from '../profiles/fapi2.js'
import { TOKEN_EXCHANGE_GRANT } from '../grants/token-exchange-config.js'

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']

// Under the server-wide FAPI 2.0 profile only private_key_jwt and the profile's algorithms are
// accepted (§5.3.2.1, §5.4), so only they are advertised.
function listAllowedAlgorithms(ctx: ServerContext, list: readonly string[]): string[] {
  if (ctx.config.profile !== 'fapi2') return [...list]
  const allowed: readonly string[] = FAPI2_ALGORITHMS
  return list.filter((alg) => allowed.includes(alg))
}

function listAuthMethods(ctx: ServerContext): string[] {
  return ctx.config.profile === 'fapi2' ? ['private_key_jwt'] : AUTH_METHODS
}

/**
 * The metadata document. Arrays with no element are left out (RFC 8414 §3.2).
 * @example
 * ```ts
 * buildMetadata(ctx).dpop_signing_alg_values_supported // ['ES256', …]
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function buildMetadata(ctx: ServerContext): Record<string, unknown> {
  const urls = ctx.urls()
  const { config } = ctx
  const scopes = [
    ...new Set(
      config.clients.flatMap((client) => client.scope.split(' ')).filter((scope) => scope !== ''),
    ),
  ]
  const metadata: Record<string, unknown> = {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorize,
    token_endpoint: urls.token,
    pushed_authorization_request_endpoint: urls.par,
    require_pushed_authorization_requests: config.par.required,
    jwks_uri: urls.jwks,
    introspection_endpoint: urls.introspect,
    revocation_endpoint: urls.revoke,
    ...(config.registration === undefined ? {} : { registration_endpoint: urls.register }),
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [
      'authorization_code',
      'refresh_token',
      'client_credentials',
      TOKEN_EXCHANGE_GRANT,
    ],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: listAuthMethods(ctx),
    token_endpoint_auth_signing_alg_values_supported: listAllowedAlgorithms(
      ctx,
      CLIENT_ASSERTION_ALGORITHMS,
    ),
    introspection_endpoint_auth_methods_supported: listAuthMethods(ctx).filter(
      (method) => method !== 'none',
    ),
    revocation_endpoint_auth_methods_supported: listAuthMethods(ctx),
    request_parameter_supported: true,
    request_uri_parameter_supported: false,
    request_object_signing_alg_values_supported: listAllowedAlgorithms(
      ctx,
      REQUEST_OBJECT_ALGORITHMS,
    ),
    authorization_response_iss_parameter_supported: config.authorizationResponse.iss,
    dpop_signing_alg_values_supported: [...config.dpop.algorithms],
  }
  if (scopes.length > 0) metadata.scopes_supported = scopes
  return metadata
}

/**
 * The public signing keys (current and retired-but-not-expired), RFC 7517 §5.
 * @example
 * ```ts
 * buildJwks(ctx).keys[0].kid
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export function buildJwks(ctx: ServerContext): { keys: Record<string, unknown>[] } {
  return { keys: ctx.keys().published.map((key) => key.publicJwk) }
}
