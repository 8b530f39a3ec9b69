/**
 * The client-metadata rules (RFC 7591 §2) shared by the config file's `clients[]` and dynamic
 * registration at `/register`. The config loader also refuses members these rules do not know
 * (its shape does); registration ignores them, as RFC 7591 §2 asks of a server.
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @packageDocumentation
 */
import { Checker, URL_RULES } from '@keybound/config-kit'
import { NQCHAR_TOKEN } from '@keybound/core/internal'
import type { ClientAuthMethod, ClientConfig, GrantType } from '../config.js'
import { holdClientToFapi2, PROFILES, type ProfileName } from '../profiles/fapi2.js'
import { TOKEN_EXCHANGE_GRANT } from '../grants/token-exchange-config.js'

/** Token endpoint client authentication methods this server accepts (RFC 7591 §2). */
export const AUTH_METHODS: readonly ClientAuthMethod[] = [
  'none',
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
]
/** Grant types a client may register (RFC 7591 §2, RFC 8693 §2.1). */
export const GRANT_TYPES: readonly GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
]
const CLIENT_ID = /^[\x21-\x7E]{1,255}$/

/**
 * A space-separated list of scope tokens (RFC 6749 §3.3); `''` (no scope) when absent or bad,
 * the problem named at `path`. Shared by a client's `scope` and a delegation rule's ceiling.
 * @example
 * ```ts
 * checkScope(new Checker(), 'read write', 'clients[0].scope') // 'read write'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export function checkScope(checker: Checker, value: unknown, path: string): string {
  // An empty scope is valid (a client without scopes), and is what validation itself produces.
  if (value === '' || value === undefined) return ''
  const scope = checker.string(value, path)
  if (scope === undefined) return ''
  for (const token of scope.split(' ')) {
    if (!NQCHAR_TOKEN.test(token)) {
      checker.fail(path, 'must be space-separated scope tokens (RFC 6749 §3.3)')
      return ''
    }
  }
  return scope
}

/**
 * An inline JWK Set of public keys (RFC 7517 §5): `undefined` when absent or bad. A key with a
 * private member is refused, since a config file that holds one has leaked it. Shared by a
 * client's `jwks` and a trusted issuer's.
 * @example
 * ```ts
 * checkJwks(new Checker(), { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '...' }] }, 'clients[0].jwks')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export function checkJwks(checker: Checker, value: unknown, path: string): ClientConfig['jwks'] {
  if (value === undefined) return undefined
  const jwks = checker.object(value, path)
  if (jwks === undefined) return undefined
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0)
    return checker.fail(`${path}.keys`, 'must be a non-empty array')
  const keys: Record<string, unknown>[] = []
  jwks.keys.forEach((key: unknown, i: number) => {
    const jwk = checker.object(key, `${path}.keys[${i}]`)
    if (jwk === undefined) return
    if (!['EC', 'RSA', 'OKP'].includes(jwk.kty as string))
      checker.fail(`${path}.keys[${i}].kty`, 'must be EC, RSA or OKP')
    else if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk)) {
      checker.fail(`${path}.keys[${i}]`, 'must be a public key (private members found)')
    } else keys.push(jwk)
  })
  return { keys }
}

/**
 * Validates one client's metadata, as in the config file or an RFC 7591 registration request.
 * Problems are reported as `<path>.<field>: <problem>`.
 * @example
 * ```ts
 * const issues: string[] = []
 * const client = checkClient({ client_id: 'app', redirect_uris: ['https://app.example/cb'] }, 'clients[0]', issues)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export function checkClient(
  value: unknown,
  path: string,
  issues: string[],
  serverProfile?: ProfileName,
): ClientConfig | undefined {
  const checker = new Checker()
  const client = checker.object(value, path)
  if (client === undefined) {
    issues.push(...checker.issues)
    return undefined
  }
  const clientId = checker.required(client.client_id, `${path}.client_id`)
  if (clientId !== undefined && !CLIENT_ID.test(clientId))
    checker.fail(`${path}.client_id`, 'must be 1 to 255 visible ASCII characters')
  const secret = checker.string(client.client_secret, `${path}.client_secret`)
  if (secret !== undefined && secret.length < 16)
    checker.fail(`${path}.client_secret`, 'must be at least 16 characters')
  const jwks = checkJwks(checker, client.jwks, `${path}.jwks`)
  const defaultMethod: ClientAuthMethod =
    secret !== undefined ? 'client_secret_basic' : jwks !== undefined ? 'private_key_jwt' : 'none'
  const method = checker.oneOf(
    client.token_endpoint_auth_method,
    `${path}.token_endpoint_auth_method`,
    AUTH_METHODS,
    defaultMethod,
  )
  if (
    (method === 'client_secret_basic' || method === 'client_secret_post') &&
    secret === undefined
  ) {
    checker.fail(`${path}.client_secret`, `is required for ${method}`)
  }
  if (method === 'private_key_jwt' && jwks === undefined)
    checker.fail(`${path}.jwks`, 'is required for private_key_jwt')
  if (method === 'none' && secret !== undefined)
    checker.fail(`${path}.client_secret`, 'must not be set for a public client (none)')

  const grantTypes = checker.listOf(client.grant_types, `${path}.grant_types`, GRANT_TYPES, [
    'authorization_code',
    'refresh_token',
  ])
  if (method === 'none' && grantTypes.includes('client_credentials')) {
    checker.fail(
      `${path}.grant_types`,
      'client_credentials needs an authenticated (confidential) client',
    )
  }
  if (method === 'none' && grantTypes.includes(TOKEN_EXCHANGE_GRANT)) {
    checker.fail(
      `${path}.grant_types`,
      'token exchange needs an authenticated (confidential) client',
    )
  }
  const redirectUris: string[] = []
  if (client.redirect_uris !== undefined && !Array.isArray(client.redirect_uris)) {
    checker.fail(`${path}.redirect_uris`, 'must be an array')
  } else {
    ;((client.redirect_uris as unknown[] | undefined) ?? []).forEach((uri, i) => {
      const checked = checker.url(uri, `${path}.redirect_uris[${i}]`, URL_RULES.redirect)
      if (checked !== undefined) redirectUris.push(checked)
    })
  }
  if (
    grantTypes.includes('authorization_code') &&
    redirectUris.length === 0 &&
    client.redirect_uris === undefined
  ) {
    checker.fail(`${path}.redirect_uris`, 'is required for the authorization_code grant')
  }
  const dpopBound = checker.boolean(
    client.dpop_bound_access_tokens,
    `${path}.dpop_bound_access_tokens`,
    false,
  )
  const bearer = checker.boolean(client.bearer_access_tokens, `${path}.bearer_access_tokens`, false)
  if (dpopBound && bearer)
    checker.fail(`${path}.bearer_access_tokens`, 'contradicts dpop_bound_access_tokens')
  const format =
    client.access_token_format === undefined
      ? undefined
      : checker.oneOf(
          client.access_token_format,
          `${path}.access_token_format`,
          ['jwt', 'opaque'] as const,
          'jwt',
        )
  const audience =
    client.audience === undefined
      ? undefined
      : checker.url(client.audience, `${path}.audience`, URL_RULES.identifier)
  const scope = checkScope(checker, client.scope, `${path}.scope`)
  const firstParty = checker.boolean(client.first_party, `${path}.first_party`, false)
  const requirePar = checker.boolean(
    client.require_pushed_authorization_requests,
    `${path}.require_pushed_authorization_requests`,
    false,
  )
  if (client.client_name !== undefined) checker.string(client.client_name, `${path}.client_name`)
  const resourceServer = checkResourceServer(checker, client.resource_server, path)
  if (resourceServer !== undefined && method === 'none')
    checker.fail(`${path}.resource_server`, 'needs an authenticated (confidential) client')
  const profile =
    client.profile === undefined
      ? undefined
      : checker.oneOf(client.profile, `${path}.profile`, PROFILES, 'fapi2')
  issues.push(...checker.issues)
  if (checker.issues.length > 0 || clientId === undefined) return undefined
  const checked: ClientConfig = {
    client_id: clientId,
    ...(secret === undefined ? {} : { client_secret: secret }),
    token_endpoint_auth_method: method,
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    scope,
    dpop_bound_access_tokens: dpopBound,
    ...(format === undefined ? {} : { access_token_format: format }),
    bearer_access_tokens: bearer,
    first_party: firstParty,
    ...(jwks === undefined ? {} : { jwks }),
    require_pushed_authorization_requests: requirePar,
    ...(typeof client.client_name === 'string' ? { client_name: client.client_name } : {}),
    ...(audience === undefined ? {} : { audience }),
    ...(resourceServer === undefined ? {} : { resource_server: resourceServer }),
    ...(profile === undefined ? {} : { profile }),
  }
  if ((profile ?? serverProfile) !== 'fapi2') return checked
  const before = issues.length
  const held = holdClientToFapi2(checked, path, issues)
  return issues.length === before ? held : undefined
}

// `resource_server`: true, false (the same as leaving it out), or a non-empty list of audiences.
function checkResourceServer(
  checker: Checker,
  value: unknown,
  clientPath: string,
): ClientConfig['resource_server'] {
  const path = `${clientPath}.resource_server`
  if (value === undefined || value === false) return undefined
  if (value === true) return true
  if (!Array.isArray(value) || value.length === 0)
    return checker.fail(path, 'must be true, false or a non-empty array of audiences')
  const audiences: string[] = []
  value.forEach((item, i) => {
    const audience = checker.url(item, `${path}[${i}]`, URL_RULES.identifier)
    if (audience !== undefined) audiences.push(audience)
  })
  return audiences
}
