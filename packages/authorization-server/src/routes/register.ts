/**
 * Dynamic client registration (RFC 7591), guarded by the initial access token from the config,
 * with the `dpop_bound_access_tokens` metadata of RFC 9449 §5.2.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3
 * @packageDocumentation
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { checkClient } from '../clients/metadata.js'
import type { AuthorizationServerConfig, ClientConfig } from '../config.js'
import type { ServerContext } from '../context.js'
import { epochSeconds, equalsConstantTime, hashHandle, randomHandle } from '../lib/crypto.js'
import { splitScope } from '../lib/form.js'
import { OAuthError, sendJson } from '../http/wire.js'
import { TOKEN_EXCHANGE_GRANT } from '../grants/token-exchange-config.js'

// Metadata a client may register. Server-side settings (first_party, bearer_access_tokens,
// audience, access_token_format) and the identifiers are the server's to decide.
const REGISTRABLE = [
  'redirect_uris',
  'token_endpoint_auth_method',
  'grant_types',
  'scope',
  'client_name',
  'jwks',
  'dpop_bound_access_tokens',
  'require_pushed_authorization_requests',
] as const

function checkInitialAccessToken(ctx: ServerContext, request: FastifyRequest): string {
  const expected = ctx.config.registration!.initialAccessToken
  const match = /^Bearer +([\x21-\x7E]+)$/i.exec(request.headers.authorization ?? '')
  if (match === null || !equalsConstantTime(match[1]!, expected)) {
    throw new OAuthError('invalid_token', 'a valid initial access token is required', {
      bearerChallenge: true,
    })
  }
  return match[1]!
}

function readMetadata(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OAuthError(
      'invalid_client_metadata',
      'the request body must be a JSON object of client metadata',
    )
  }
  const input = body as Record<string, unknown>
  if (input.response_types !== undefined) {
    const types = input.response_types
    if (!Array.isArray(types) || types.some((type) => type !== 'code')) {
      throw new OAuthError('invalid_client_metadata', 'response_types: only "code" is supported')
    }
  }
  if (input.jwks_uri !== undefined)
    throw new OAuthError('invalid_client_metadata', 'jwks_uri: not supported, register jwks')
  const metadata: Record<string, unknown> = {}
  for (const name of REGISTRABLE) if (input[name] !== undefined) metadata[name] = input[name]
  metadata.token_endpoint_auth_method ??= 'client_secret_basic'
  return metadata
}

/**
 * Whether a registered client's redirect URI is one the operator vouches for: https on a host
 * of `registration.trustedRedirectHosts`. Only such URIs get authorization errors redirected
 * before the user signs in.
 * @example
 * ```ts
 * isAllowedRegisteredRedirect(config, 'https://app.example/cb') // true with ['app.example']
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.11.2
 */
export function isAllowedRegisteredRedirect(
  config: AuthorizationServerConfig,
  redirectUri: string,
): boolean {
  const hosts = config.registration?.trustedRedirectHosts ?? []
  let url: URL
  try {
    url = new URL(redirectUri)
  } catch {
    return false
  }
  return url.protocol === 'https:' && hosts.includes(url.hostname)
}

// The operator's registration policy: scopes from the allow-list only, client_credentials only
// when allowed, redirect URIs only on trusted hosts when a list is set (RFC 7591 §2).
function enforceRegistrationPolicy(ctx: ServerContext, client: ClientConfig): void {
  const policy = ctx.config.registration!
  const allowed = new Set(policy.allowedScopes)
  const refused = splitScope(client.scope).filter((token) => !allowed.has(token))
  if (refused.length > 0) {
    throw new OAuthError(
      'invalid_client_metadata',
      `scope: not allowed for registered clients: ${refused.join(' ')}`,
    )
  }
  if (client.grant_types.includes('client_credentials') && !policy.allowClientCredentials) {
    throw new OAuthError(
      'invalid_client_metadata',
      'grant_types: client_credentials is not allowed for registered clients',
    )
  }
  // Acting for other clients' users is for operators to grant, never for self-registration.
  if (client.grant_types.includes(TOKEN_EXCHANGE_GRANT)) {
    throw new OAuthError(
      'invalid_client_metadata',
      'grant_types: token exchange is not allowed for registered clients',
    )
  }
  if (policy.trustedRedirectHosts.length === 0) return
  client.redirect_uris.forEach((uri, i) => {
    if (!isAllowedRegisteredRedirect(ctx.config, uri)) {
      throw new OAuthError(
        'invalid_redirect_uri',
        `redirect_uris[${i}]: must be https on a host of registration.trustedRedirectHosts`,
      )
    }
  })
}

/**
 * Handles `POST /register`: validates the metadata and answers 201 with the client's
 * registration (and a `client_secret` for the `client_secret_*` methods).
 * @example
 * ```ts
 * app.post('/register', (request, reply) => handleRegister(ctx, request, reply))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1
 */
export async function handleRegister(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const initial = checkInitialAccessToken(ctx, request)
  const metadata = readMetadata(request.body)
  const method = metadata.token_endpoint_auth_method
  const secret =
    method === 'client_secret_basic' || method === 'client_secret_post' ? randomHandle() : undefined
  const issues: string[] = []
  const config = checkClient(
    {
      ...metadata,
      client_id: randomHandle(16),
      ...(secret === undefined ? {} : { client_secret: secret }),
    },
    'client',
    issues,
    ctx.config.profile,
  )
  if (config === undefined) {
    const first = issues[0]!.replace(/^client\./, '')
    throw new OAuthError(
      first.startsWith('redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata',
      first,
    )
  }
  enforceRegistrationPolicy(ctx, config)
  const now = ctx.now()
  await ctx.clients.register(config, hashHandle(initial), now)
  const body: Record<string, unknown> = {
    client_id: config.client_id,
    client_id_issued_at: epochSeconds(now),
    redirect_uris: config.redirect_uris,
    token_endpoint_auth_method: config.token_endpoint_auth_method,
    grant_types: config.grant_types,
    response_types: config.grant_types.includes('authorization_code') ? ['code'] : [],
    dpop_bound_access_tokens: config.dpop_bound_access_tokens,
    require_pushed_authorization_requests: config.require_pushed_authorization_requests,
  }
  if (secret !== undefined)
    Object.assign(body, { client_secret: secret, client_secret_expires_at: 0 })
  if (config.scope !== '') body.scope = config.scope
  if (config.client_name !== undefined) body.client_name = config.client_name
  if (config.jwks !== undefined) body.jwks = config.jwks
  return sendJson(reply, 201, body)
}
