/**
 * Turning token claims (a JWT payload or an introspection response) into `AccessTokenInfo`,
 * with the `cnf.jkt` checks both kinds share (RFC 9449 §6.1, §6.2).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 */
import { calculateJwkThumbprint, DPoPError, type PublicJwk } from '@keybound/core'
import { AccessTokenInvalid } from '../errors.js'
import type { AccessTokenInfo } from '../types.js'
import { RFC9068_PROFILE, type AccessTokenProfile } from './profiles.js'

// A SHA-256 thumbprint in base64url is exactly 43 characters (RFC 9449 §6.1, F12).
const JKT = /^[A-Za-z0-9_-]{43}$/

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

// RFC 7800 §3: a confirmation names one proof-of-possession key. A `cnf.jwk` beside `cnf.jkt`
// must be that same key, or the token is ambiguous about whose it is: refuse it.
async function checkSameKey(cnf: Record<string, unknown>, jkt: string): Promise<void> {
  if (cnf.jwk === undefined) return
  let thumbprint: string | undefined
  try {
    thumbprint = await calculateJwkThumbprint(cnf.jwk as PublicJwk)
  } catch (error) {
    if (!(error instanceof DPoPError)) throw error
  }
  if (thumbprint !== jkt) {
    throw new AccessTokenInvalid('"cnf.jwk" and "cnf.jkt" name different keys', {
      claim: 'cnf',
      reason: 'conflicting confirmation',
    })
  }
}

// A custom profile's answer is checked like input: anything but a list of strings refuses the
// token rather than granting whatever a malformed list would match.
function checkedScopes(scopes: unknown): string[] {
  if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string')) {
    throw new AccessTokenInvalid('access token is not valid: the profile read no scope list', {
      claim: 'scope',
      reason: 'invalid scopes',
    })
  }
  return scopes
}

/**
 * The `AccessTokenInfo` of validated claims, read as `profile` says (scopes, client id; RFC 9068
 * by default).
 * @example
 * ```ts
 * await infoFromClaims({ sub: 'alice', scope: 'read write', cnf: { jkt } }) // { subject: 'alice', scope: ['read', 'write'], jkt, … }
 * ```
 */
export async function infoFromClaims(
  claims: Record<string, unknown>,
  profile: AccessTokenProfile = RFC9068_PROFILE,
): Promise<AccessTokenInfo> {
  const info: AccessTokenInfo = { claims, scope: checkedScopes(profile.scopesOf(claims)) }
  if (typeof claims.sub === 'string') info.subject = claims.sub
  const clientId = profile.clientIdOf(claims)
  if (typeof clientId === 'string') info.clientId = clientId
  const jkt = jktOf(claims)
  if (jkt !== undefined) {
    await checkSameKey(claims.cnf as Record<string, unknown>, jkt)
    info.jkt = jkt
  }
  if (typeof claims.exp === 'number') info.expiresAt = claims.exp
  return info
}
