/**
 * Token profiles: how the identity providers people run shape their access tokens and
 * introspection answers (header `typ`, where the scopes are, audience forms, `cnf.jkt`, the
 * client-id claim). RFC 9068 is the strict default; every other profile relaxes exactly what its
 * provider documents, and nothing else. Sources per provider: docs/identity-providers.md.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 */
import { InvalidArgument } from '@keybound/core'
import { AccessTokenInvalid } from '../errors.js'

/**
 * What a resource server must know about one provider's access tokens. The functions receive the
 * verified JWT claims or the introspection response; they never see the token itself.
 *
 * @example
 * ```ts
 * const gluu: AccessTokenProfile = {
 *   name: 'gluu',
 *   headerTypes: ['JWT'],
 *   requiredClaims: ['iss', 'exp', 'aud', 'iat'],
 *   introspection: true,
 *   scopesOf: (claims) => String(claims.scope ?? '').split(' ').filter(Boolean),
 *   clientIdOf: (claims) => (typeof claims.client_id === 'string' ? claims.client_id : undefined),
 *   audienceForms: (audience) => audience,
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export interface AccessTokenProfile {
  /** A short name, used in configuration errors and failure details. */
  readonly name: string
  /**
   * The JWT header `typ` values accepted, compared without letter case and without an
   * `application/` prefix (RFC 7515 §4.1.9); `null` accepts a header without `typ`.
   */
  readonly headerTypes: readonly (string | null)[]
  /** JWT claims that must be present (`jwtAccessTokens`'s `requiredClaims` overrides them). */
  readonly requiredClaims: readonly string[]
  /** Whether the provider answers RFC 7662 introspection (false refuses the configuration). */
  readonly introspection: boolean
  /** The scopes the token grants. */
  scopesOf(claims: Record<string, unknown>): string[]
  /** The OAuth client the token was issued to, when the provider says. */
  clientIdOf(claims: Record<string, unknown>): string | undefined
  /** Every `aud` value that names this resource server, given the configured identifiers. */
  audienceForms(audience: readonly string[]): readonly string[]
  /** Provider-specific checks on claims; throws `AccessTokenInvalid` to refuse the token. */
  checkClaims?(claims: Record<string, unknown>): void
}

/**
 * The built-in profiles: RFC 9068 and the providers of docs/identity-providers.md.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 */
export type ProfileName = 'rfc9068' | 'keycloak' | 'auth0' | 'okta' | 'entra' | 'wso2' | 'spring'

/**
 * The built-in profile names, in documentation order.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 */
export const PROFILE_NAMES: readonly ProfileName[] = Object.freeze([
  'rfc9068',
  'keycloak',
  'auth0',
  'okta',
  'entra',
  'wso2',
  'spring',
])

// RFC 6749 §3.3: space-delimited; some providers (Spring, Okta's `scp`) send a JSON array.
function wordsOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((word) => word !== '')
  if (Array.isArray(value)) return value.filter((word): word is string => typeof word === 'string')
  return []
}

function firstString(
  claims: Record<string, unknown>,
  names: readonly string[],
): string | undefined {
  for (const name of names) {
    const value = claims[name]
    if (typeof value === 'string') return value
  }
  return undefined
}

function sameAudience(audience: readonly string[]): readonly string[] {
  return audience
}

const RFC9068: AccessTokenProfile = Object.freeze({
  name: 'rfc9068',
  headerTypes: Object.freeze(['at+jwt']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']),
  introspection: true,
  scopesOf: (claims: Record<string, unknown>) => wordsOf(claims.scope),
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['client_id']),
  audienceForms: sameAudience,
})

// Keycloak marks the token kind in its own `typ` claim: `Bearer` or `DPoP` for access tokens,
// `ID`, `Refresh`, `Logout` for the others, which share the header `typ` `JWT` and the signing
// key. Only access tokens pass, and a `DPoP` token must carry the key it is bound to.
function checkKeycloakKind(claims: Record<string, unknown>): void {
  const kind = typeof claims.typ === 'string' ? claims.typ.toLowerCase() : undefined
  if (kind !== 'bearer' && kind !== 'dpop') {
    throw new AccessTokenInvalid('access token is not valid: typ claim is not an access token', {
      claim: 'typ',
      reason: 'not an access token',
      details: {
        description: `typ claim expected "Bearer" or "DPoP", got ${JSON.stringify(claims.typ) ?? 'nothing'}`,
      },
    })
  }
  const cnf = claims.cnf as { jkt?: unknown } | undefined
  const bound = typeof cnf === 'object' && cnf !== null && cnf.jkt !== undefined
  if ((kind === 'dpop') !== bound) {
    throw new AccessTokenInvalid('access token is not valid: typ claim and cnf.jkt disagree', {
      claim: 'cnf',
      reason: kind === 'dpop' ? 'DPoP token without cnf.jkt' : 'Bearer token with cnf.jkt',
    })
  }
}

const KEYCLOAK: AccessTokenProfile = Object.freeze({
  name: 'keycloak',
  headerTypes: Object.freeze(['JWT']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'iat', 'jti', 'azp', 'typ']),
  introspection: true,
  scopesOf: (claims: Record<string, unknown>) => wordsOf(claims.scope),
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['azp', 'client_id']),
  audienceForms: sameAudience,
  checkClaims: checkKeycloakKind,
})

const AUTH0: AccessTokenProfile = Object.freeze({
  name: 'auth0',
  // `JWT` under the "Auth0" token dialect, `at+jwt` under the "RFC 9068" one.
  headerTypes: Object.freeze(['JWT', 'at+jwt']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'sub', 'iat']),
  introspection: false,
  scopesOf: (claims: Record<string, unknown>) => wordsOf(claims.scope),
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['client_id', 'azp']),
  audienceForms: sameAudience,
})

const OKTA: AccessTokenProfile = Object.freeze({
  name: 'okta',
  // Custom authorization servers sign access tokens with `kid` and `alg` only.
  headerTypes: Object.freeze([null, 'JWT']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'iat', 'jti', 'cid']),
  introspection: true,
  // `scp` (an array) in the JWT, `scope` (a string) in the introspection answer.
  scopesOf: (claims: Record<string, unknown>) =>
    claims.scp !== undefined ? wordsOf(claims.scp) : wordsOf(claims.scope),
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['cid', 'client_id']),
  audienceForms: sameAudience,
})

const ENTRA_APP_ID_URI = /^api:\/\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

// v2.0 tokens carry the API's application (client) ID in `aud`; v1.0 tokens may carry the App ID
// URI instead. The default App ID URI is `api://<application ID>`, so each names the other.
function entraAudienceForms(audience: readonly string[]): readonly string[] {
  const forms = new Set(audience)
  for (const value of audience) {
    const appId = ENTRA_APP_ID_URI.exec(value)?.[1]
    if (appId !== undefined) forms.add(appId)
    if (GUID.test(value)) forms.add(`api://${value}`)
  }
  return [...forms]
}

const ENTRA: AccessTokenProfile = Object.freeze({
  name: 'entra',
  headerTypes: Object.freeze(['JWT']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'iat', 'sub']),
  introspection: false,
  // Delegated permissions in `scp` (a space-delimited string), application permissions in
  // `roles` (an array): both are what the caller may do.
  scopesOf: (claims: Record<string, unknown>) => [
    ...wordsOf(claims.scp),
    ...(Array.isArray(claims.roles) ? wordsOf(claims.roles) : []),
  ],
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['azp', 'appid']),
  audienceForms: entraAudienceForms,
})

const WSO2: AccessTokenProfile = Object.freeze({
  name: 'wso2',
  headerTypes: Object.freeze(['at+jwt', 'JWT']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'sub', 'iat', 'jti']),
  introspection: true,
  scopesOf: (claims: Record<string, unknown>) => wordsOf(claims.scope),
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['client_id', 'azp']),
  audienceForms: sameAudience,
})

const SPRING: AccessTokenProfile = Object.freeze({
  name: 'spring',
  // JwtGenerator sets only `alg` (and `kid`) unless a customizer adds `typ`.
  headerTypes: Object.freeze([null, 'JWT', 'at+jwt']),
  requiredClaims: Object.freeze(['iss', 'exp', 'aud', 'sub', 'iat', 'jti']),
  introspection: true,
  // A JSON array in the JWT, a space-delimited string in the introspection answer.
  scopesOf: (claims: Record<string, unknown>) => wordsOf(claims.scope),
  clientIdOf: (claims: Record<string, unknown>) => firstString(claims, ['client_id', 'azp']),
  audienceForms: sameAudience,
})

const BUILT_IN: Readonly<Record<ProfileName, AccessTokenProfile>> = Object.freeze({
  rfc9068: RFC9068,
  keycloak: KEYCLOAK,
  auth0: AUTH0,
  okta: OKTA,
  entra: ENTRA,
  wso2: WSO2,
  spring: SPRING,
})

/**
 * The built-in profile called `name`, e.g. to extend it in a custom profile.
 * @example
 * ```ts
 * const keycloak = builtInProfile('keycloak')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 */
export function builtInProfile(name: ProfileName): AccessTokenProfile {
  return BUILT_IN[name]
}

const FUNCTIONS = ['scopesOf', 'clientIdOf', 'audienceForms'] as const

// Every field of a custom profile is checked at build time, so a typo is a configuration error
// naming its path, never a token accepted because a check quietly did nothing.
function profileProblems(profile: Record<string, unknown>, path: string): string[] {
  const problems: string[] = []
  if (typeof profile.name !== 'string' || profile.name === '')
    problems.push(`${path}.name: must be a non-empty string`)
  const types = profile.headerTypes
  if (
    !Array.isArray(types) ||
    types.length === 0 ||
    !types.every((typ) => typ === null || (typeof typ === 'string' && typ !== ''))
  )
    problems.push(`${path}.headerTypes: must list strings or null, at least one`)
  const required = profile.requiredClaims
  if (!Array.isArray(required) || !required.every((claim) => typeof claim === 'string'))
    problems.push(`${path}.requiredClaims: must be an array of claim names`)
  if (typeof profile.introspection !== 'boolean')
    problems.push(`${path}.introspection: must be true or false`)
  for (const name of FUNCTIONS) {
    if (typeof profile[name] !== 'function') problems.push(`${path}.${name}: must be a function`)
  }
  if (profile.checkClaims !== undefined && typeof profile.checkClaims !== 'function')
    problems.push(`${path}.checkClaims: must be a function when given`)
  return problems
}

/**
 * The profile an option names: `undefined` is RFC 9068, a name is a built-in profile, an object
 * is a custom profile (checked field by field). Problems are returned, each with its `path`.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export function profileOption(
  value: unknown,
  path: string,
): { profile: AccessTokenProfile; problems: string[] } {
  if (value === undefined) return { profile: RFC9068, problems: [] }
  if (typeof value === 'string') {
    if ((PROFILE_NAMES as readonly string[]).includes(value))
      return { profile: BUILT_IN[value as ProfileName], problems: [] }
    return {
      profile: RFC9068,
      problems: [`${path}: unknown profile ${JSON.stringify(value)} (${PROFILE_NAMES.join(', ')})`],
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { profile: RFC9068, problems: [`${path}: must be a profile name or a profile object`] }
  const problems = profileProblems(value as Record<string, unknown>, path)
  return { profile: value as AccessTokenProfile, problems }
}

/**
 * Throws one `InvalidArgument` naming every problem, or returns.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export function throwProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new InvalidArgument(problems.join('; '))
}

/** `typ` compared as RFC 7515 §4.1.9 suggests: no letter case, no `application/` prefix. */
function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase()
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower
}

/**
 * Whether a header `typ` (or its absence) is one the profile accepts.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.9
 */
export function acceptsHeaderType(profile: AccessTokenProfile, typ: unknown): boolean {
  if (typ === undefined) return profile.headerTypes.includes(null)
  if (typeof typ !== 'string') return false
  const wanted = normalizeTyp(typ)
  return profile.headerTypes.some(
    (accepted) => accepted !== null && normalizeTyp(accepted) === wanted,
  )
}

/**
 * The strict RFC 9068 profile (the default).
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2
 */
export const RFC9068_PROFILE: AccessTokenProfile = RFC9068
