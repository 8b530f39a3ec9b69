/**
 * Turning token claims (a JWT payload or an introspection response) into `AccessTokenInfo`,
 * with the `cnf.jkt` checks both kinds share (RFC 9449 §6.1, §6.2).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 */
import { AccessTokenInvalid } from '../errors.js'
import type { AccessTokenInfo } from '../types.js'

// A SHA-256 thumbprint in base64url is exactly 43 characters (RFC 9449 §6.1, F12).
const JKT = /^[A-Za-z0-9_-]{43}$/

function scopeOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((scope) => scope !== '')
  if (Array.isArray(value))
    return value.filter((scope): scope is string => typeof scope === 'string')
  return []
}

/** The `cnf.jkt` of a token, `undefined` when it has none; a malformed `cnf` refuses the token. */
export function jktOf(claims: Record<string, unknown>): string | undefined {
  const cnf = claims.cnf
  if (cnf === undefined) return undefined
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    throw new AccessTokenInvalid('"cnf" (Confirmation) claim is not an object', {
      claim: 'cnf',
      reason: 'invalid',
    })
  }
  const jkt = (cnf as Record<string, unknown>).jkt
  if (jkt === undefined) return undefined
  if (typeof jkt !== 'string' || !JKT.test(jkt)) {
    throw new AccessTokenInvalid('"cnf.jkt" is not a SHA-256 JWK thumbprint', {
      claim: 'cnf',
      reason: 'invalid jkt',
    })
  }
  return jkt
}

/**
 * The `AccessTokenInfo` of validated claims.
 * @example
 * ```ts
 * infoFromClaims({ sub: 'alice', scope: 'read write', cnf: { jkt } }) // { subject: 'alice', scope: ['read', 'write'], jkt, … }
 * ```
 */
export function infoFromClaims(claims: Record<string, unknown>): AccessTokenInfo {
  const info: AccessTokenInfo = { claims, scope: scopeOf(claims.scope) }
  if (typeof claims.sub === 'string') info.subject = claims.sub
  if (typeof claims.client_id === 'string') info.clientId = claims.client_id
  const jkt = jktOf(claims)
  if (jkt !== undefined) info.jkt = jkt
  if (typeof claims.exp === 'number') info.expiresAt = claims.exp
  return info
}
