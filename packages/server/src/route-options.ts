/**
 * Per-route options (scopes, claim checks, optional credentials), validated once when a
 * middleware is built so that a mistake stops the application at start-up, with every bad
 * field named by its path.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @packageDocumentation
 */
import { InvalidArgument } from '@keybound/core'
import { invalidArgument, NQCHAR_TOKEN } from '@keybound/core/internal'
import type { ClaimRequirements, ClaimValue, RouteOptions } from './types.js'

/**
 * Route options after {@link checkRouteOptions}: every member present, nothing to re-check.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface CheckedRouteOptions<Claims extends object = Record<string, unknown>> {
  readonly scopes: readonly string[]
  readonly scopeMatch: 'all' | 'any'
  readonly claims: ClaimRequirements<Claims>
  readonly credentialsRequired: boolean
}

// RFC 6749 §3.3 scope-token: NQCHAR, which also keeps `scope="…"` safe in a challenge.
const KNOWN_OPTIONS = new Set(['scopes', 'scopeMatch', 'claims', 'credentialsRequired'])
// Options checked once (by an adapter at start-up) are not checked again on every request.
const CHECKED = new WeakSet<object>()
const KNOWN_CLAIM_CHECKS = new Set(['equals', 'includes', 'check'])
// What a route without options requires: credentials, and nothing else.
const DEFAULT_ROUTE_OPTIONS: CheckedRouteOptions<object> = Object.freeze({
  scopes: Object.freeze([]),
  scopeMatch: 'all',
  claims: Object.freeze({}),
  credentialsRequired: true,
})
CHECKED.add(DEFAULT_ROUTE_OPTIONS)

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isClaimValue(value: unknown): value is ClaimValue {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  )
}

function checkScopes(scopes: unknown, problems: string[]): readonly string[] {
  if (scopes === undefined) return []
  if (!Array.isArray(scopes)) {
    problems.push('scopes must be an array of RFC 6749 scope tokens')
    return []
  }
  scopes.forEach((scope: unknown, index) => {
    if (typeof scope !== 'string' || !NQCHAR_TOKEN.test(scope))
      problems.push(`scopes[${index}] is not an RFC 6749 scope token`)
  })
  return Object.freeze([...(scopes as string[])])
}

function checkEquals(equals: unknown, problems: string[]): void {
  if (equals === undefined) return
  if (!isPlainObject(equals)) {
    problems.push('claims.equals must be an object of claim names and values')
    return
  }
  for (const [name, value] of Object.entries(equals)) {
    if (!isClaimValue(value))
      problems.push(`claims.equals.${name} must be a string, a finite number, a boolean or null`)
  }
}

function checkIncludes(includes: unknown, problems: string[]): void {
  if (includes === undefined) return
  if (!isPlainObject(includes)) {
    problems.push('claims.includes must be an object of claim names and arrays of strings')
    return
  }
  for (const [name, wanted] of Object.entries(includes)) {
    const valid =
      Array.isArray(wanted) &&
      wanted.length > 0 &&
      wanted.every((item) => typeof item === 'string' && item !== '' && !item.includes(' '))
    if (!valid)
      problems.push(`claims.includes.${name} must be a non-empty array of strings without spaces`)
  }
}

function checkClaims(claims: unknown, problems: string[]): ClaimRequirements<object> {
  if (claims === undefined) return {}
  if (!isPlainObject(claims)) {
    problems.push('claims must be an object with equals, includes or check')
    return {}
  }
  for (const name of Object.keys(claims))
    if (!KNOWN_CLAIM_CHECKS.has(name)) problems.push(`claims.${name} is not a known claim check`)
  checkEquals(claims.equals, problems)
  checkIncludes(claims.includes, problems)
  if (claims.check !== undefined && typeof claims.check !== 'function')
    problems.push('claims.check must be a function')
  return Object.freeze({ ...claims }) as ClaimRequirements<object>
}

function checkUnknownOptions(options: Record<string, unknown>, problems: string[]): void {
  for (const name of Object.keys(options))
    // A typo such as `scope` must not leave a route open: unknown names are refused.
    if (!KNOWN_OPTIONS.has(name)) problems.push(`${name} is not a route option`)
}

/**
 * Validates per-route options when a middleware is built (so mistakes throw at start-up) and
 * returns them with defaults filled in. Throws one `InvalidArgument` naming every bad field by
 * its path (`scopes[1]`, `claims.equals.tenant`, …).
 * @example
 * ```ts
 * checkRouteOptions({ scopes: ['read', 'write'], scopeMatch: 'any' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function checkRouteOptions<Claims extends object = Record<string, unknown>>(
  routeOptions: RouteOptions<Claims> | undefined,
): CheckedRouteOptions<Claims> {
  if (routeOptions === undefined) return DEFAULT_ROUTE_OPTIONS as CheckedRouteOptions<Claims>
  if (CHECKED.has(routeOptions)) return routeOptions as CheckedRouteOptions<Claims>
  if (!isPlainObject(routeOptions)) throw invalidArgument('routeOptions', 'an object')
  const options = routeOptions as Record<string, unknown>
  const problems: string[] = []
  checkUnknownOptions(options, problems)
  const scopes = checkScopes(options.scopes, problems)
  const scopeMatch = options.scopeMatch ?? 'all'
  if (scopeMatch !== 'all' && scopeMatch !== 'any')
    problems.push("scopeMatch must be 'all' or 'any'")
  const claims = checkClaims(options.claims, problems)
  const credentialsRequired = options.credentialsRequired ?? true
  if (typeof credentialsRequired !== 'boolean')
    problems.push('credentialsRequired must be a boolean')
  // Several members can be wrong at once: every problem is named, each by its member.
  if (problems.length > 0) {
    throw new InvalidArgument(`invalid route options: ${problems.join('; ')}`, {
      details: { problems },
    })
  }
  const checked: CheckedRouteOptions<Claims> = Object.freeze({
    scopes,
    scopeMatch: scopeMatch as 'all' | 'any',
    claims: claims as ClaimRequirements<Claims>,
    credentialsRequired: credentialsRequired as boolean,
  })
  CHECKED.add(checked)
  return checked
}
