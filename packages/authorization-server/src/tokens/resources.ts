/**
 * Resource indicators (RFC 8707): a client names the API it wants a token for with `resource`,
 * and the token is made for that API: its `aud`, and its format (an API that cannot read JWTs
 * gets opaque tokens it introspects). Only configured resources are accepted.
 * @see https://www.rfc-editor.org/rfc/rfc8707
 * @packageDocumentation
 */
import type { AuthorizationServerConfig, ResourceConfig } from '../config.js'
import { OAuthError } from '../http/wire.js'

/**
 * The configured resource a request names, `undefined` when it names none; an unknown
 * resource is refused with `invalid_target` (RFC 8707 §2).
 * @example
 * ```ts
 * findResource(config, params.resource) // { identifier: 'https://api.example.com', accessTokenFormat: 'opaque' }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function findResource(
  config: AuthorizationServerConfig,
  requested: string | undefined,
): ResourceConfig | undefined {
  if (requested === undefined) return undefined
  const resource = config.resources.find((entry) => entry.identifier === requested)
  if (resource === undefined) {
    throw new OAuthError(
      'invalid_target',
      '"resource" is not a resource this server issues tokens for',
    )
  }
  return resource
}

/**
 * The resource a token request may use when the grant already names one (a code or a refresh
 * token): the request may repeat it, never change it.
 * @example
 * ```ts
 * const resource = keepResource(config, row.resource, params.resource)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2
 */
export function keepResource(
  config: AuthorizationServerConfig,
  granted: string | null,
  requested: string | undefined,
): ResourceConfig | undefined {
  if (granted === null) return findResource(config, requested)
  if (requested !== undefined && requested !== granted) {
    throw new OAuthError('invalid_target', '"resource" differs from the one the grant was made for')
  }
  return findResource(config, granted)
}
