/**
 * Form parameters (RFC 6749 §3.1): every parameter at most once, strings only.
 * @packageDocumentation
 */
import { NQCHAR_TOKEN } from '@keybound/core/internal'
import { OAuthError } from '../http/wire.js'

/** Parameters of a form-encoded request or of a query. */
export type Parameters = Record<string, string>

const MAX_PARAMETER_LENGTH = 8192

/**
 * Checks a parsed form or query: an object of strings, no repeated parameter ("Request and
 * response parameters MUST NOT be included more than once"), no oversized values. Empty
 * values count as absent (RFC 6749 §3.1).
 * @example
 * ```ts
 * const params = readParameters(request.body, 'body')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1
 */
export function readParameters(input: unknown, where: 'body' | 'query'): Parameters {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new OAuthError(
      'invalid_request',
      `request ${where} must be application/x-www-form-urlencoded`,
    )
  }
  const params: Parameters = {}
  for (const [name, value] of Object.entries(input as Record<string, unknown>)) {
    if (Array.isArray(value))
      throw new OAuthError('invalid_request', `"${name}" parameter is repeated`)
    if (typeof value !== 'string')
      throw new OAuthError('invalid_request', `"${name}" parameter is not a string`)
    if (value.length > MAX_PARAMETER_LENGTH)
      throw new OAuthError('invalid_request', `"${name}" parameter is too long`)
    if (value !== '') params[name] = value
  }
  return params
}

/**
 * A required parameter, or `invalid_request` naming it.
 * @example
 * ```ts
 * const code = requireParameter(params, 'code')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function requireParameter(params: Parameters, name: string): string {
  const value = params[name]
  if (value === undefined)
    throw new OAuthError('invalid_request', `"${name}" parameter is required`)
  return value
}

/**
 * Scope tokens of a `scope` string (RFC 6749 §3.3), de-duplicated, in order.
 * @example
 * ```ts
 * splitScope('read  write read') // ['read', 'write']
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export function splitScope(scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter((token) => token !== ''))]
}

/**
 * The granted scope: the requested tokens when all are allowed, else `invalid_scope`; all
 * allowed scopes when none was requested.
 * @example
 * ```ts
 * grantScope('read', 'read write') // 'read'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export function grantScope(requested: string | undefined, allowed: string): string {
  const allowedTokens = new Set(splitScope(allowed))
  if (requested === undefined) return [...allowedTokens].join(' ')
  const tokens = splitScope(requested)
  for (const token of tokens) {
    if (!NQCHAR_TOKEN.test(token) || !allowedTokens.has(token)) {
      throw new OAuthError('invalid_scope', 'requested scope is not allowed for this client')
    }
  }
  return tokens.join(' ')
}
