/**
 * The FAPI 2.0 Security Profile (final) with DPoP as the sender constraint, for the whole server
 * (`profile: fapi2`) or for one client (`clients[i].profile: fapi2`). The routes call the small
 * hooks here; the rules live in one place so that the config check, the metadata and the
 * request checks cannot drift apart.
 *
 * What the profile asks of the authorization server (FAPI 2.0 Security Profile §5.3.2):
 * confidential clients authenticated by `private_key_jwt`; PAR required and authenticated, with
 * `redirect_uri` in the pushed request and `expires_in` under 600 s; `response_type=code` with
 * PKCE S256; `iss` in the authorization response (RFC 9207); codes that live at most 60 s;
 * sender-constrained tokens (DPoP, RFC 9449); only PS256, ES256 and EdDSA and RSA keys of at
 * least 2048 bits (§5.4); a JWT `iat` or `nbf` up to 10 s in the future accepted and more than
 * 60 s refused (§5.3.2.1); no refresh token rotation (§5.3.2).
 *
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2
 * @packageDocumentation
 */
import type { VerifiedProof } from '@keybound/core'
import { isBeforeExpiry, isNotBeforeReached, issuedAtProblem } from '@keybound/core/internal'
import type { Client } from '../clients/registry.js'
import type { AuthorizationServerConfig, ClientConfig } from '../config.js'
import type { ServerContext } from '../context.js'
import type { Parameters } from '../lib/form.js'
import { OAuthError } from '../http/wire.js'

/**
 * The security profiles a server or a client can run under (`fapi2`: FAPI 2.0 Security Profile
 * with DPoP as the sender constraint).
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5
 */
export type ProfileName = 'fapi2'

/**
 * Profile names accepted by `profile` and `clients[i].profile`.
 * @example
 * ```ts
 * PROFILES.includes('fapi2') // true
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5
 */
export const PROFILES: readonly ProfileName[] = ['fapi2']

/**
 * The only JWS algorithms FAPI 2.0 allows (§5.4): for client assertions, request objects,
 * DPoP proofs and the server's own token signatures.
 * @example
 * ```ts
 * FAPI2_ALGORITHMS // ['PS256', 'ES256', 'EdDSA']
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.4
 */
export const FAPI2_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const

/**
 * Smallest RSA modulus, in bits, a client key may have under the profile (§5.4).
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.4
 */
export const FAPI2_MIN_RSA_BITS = 2048

/**
 * Longest an authorization code may live under the profile, in seconds (§5.3.2).
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2
 */
export const FAPI2_MAX_CODE_LIFETIME = 60

/**
 * Longest a pushed request may live under the profile: `expires_in` must be under 600 s
 * (§5.3.2.2).
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.2
 */
export const FAPI2_MAX_PAR_LIFETIME = 599

/**
 * The accepted future skew of a JWT's `iat`/`nbf`, in seconds: `dpop.clockTolerance` must lie in
 * this range under the profile (at least 10 s accepted, more than 60 s refused, §5.3.2.1).
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export const FAPI2_CLOCK_TOLERANCE = { min: 10, max: 60 } as const

const ALGORITHMS: readonly string[] = FAPI2_ALGORITHMS

/**
 * Whether the profile applies to requests of `client`: the server runs it, or the client does.
 * @example
 * ```ts
 * if (isFapi2(ctx.config, client)) checkFapi2Proof(ctx, proof)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2
 */
export function isFapi2(
  config: Pick<AuthorizationServerConfig, 'profile'>,
  client: Pick<ClientConfig, 'profile'>,
): boolean {
  return config.profile === 'fapi2' || client.profile === 'fapi2'
}

/**
 * Whether any request can run under the profile (the server's or any configured client's).
 * @example
 * ```ts
 * usesFapi2(config) // true when one client has profile: fapi2
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2
 */
export function usesFapi2(config: AuthorizationServerConfig): boolean {
  return config.profile === 'fapi2' || config.clients.some((client) => client.profile === 'fapi2')
}

/**
 * Holds one client's metadata to the profile; returns the client with what the profile implies
 * (`dpop_bound_access_tokens`, `require_pushed_authorization_requests`) switched on, and adds
 * `<path>.<field>: <problem>` to `issues` for every field that breaks it.
 * @example
 * ```ts
 * const held = holdClientToFapi2(client, 'clients[2]', issues)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function holdClientToFapi2(
  client: ClientConfig,
  path: string,
  issues: string[],
): ClientConfig {
  const fail = (field: string, problem: string) => issues.push(`${path}.${field}: ${problem}`)
  if (client.token_endpoint_auth_method !== 'private_key_jwt')
    fail('token_endpoint_auth_method', 'must be private_key_jwt under profile fapi2')
  if (client.client_secret !== undefined)
    fail('client_secret', 'must not be set under profile fapi2 (private_key_jwt only)')
  if (client.bearer_access_tokens)
    fail('bearer_access_tokens', 'must be false under profile fapi2 (DPoP-bound tokens only)')
  client.jwks?.keys.forEach((jwk, i) => {
    const problem = fapi2KeyProblem(jwk)
    if (problem !== undefined) fail(`jwks.keys[${i}]`, problem)
  })
  return { ...client, dpop_bound_access_tokens: true, require_pushed_authorization_requests: true }
}

/**
 * Why a client's public JWK may not be used under the profile, or `undefined` when it may:
 * RSA of at least 2048 bits, EC on P-256, OKP on Ed25519, and an `alg` (when given) of
 * {@link FAPI2_ALGORITHMS}.
 * @example
 * ```ts
 * fapi2KeyProblem({ kty: 'EC', crv: 'P-384', x: '…', y: '…' }) // 'crv must be P-256 …'
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.4
 */
export function fapi2KeyProblem(jwk: Record<string, unknown>): string | undefined {
  if (jwk.alg !== undefined && !ALGORITHMS.includes(jwk.alg as string))
    return `alg must be one of ${ALGORITHMS.join(', ')} under profile fapi2`
  if (jwk.kty === 'RSA') {
    const bits = rsaModulusBits(jwk.n)
    if (bits < FAPI2_MIN_RSA_BITS)
      return `an RSA key must have at least ${FAPI2_MIN_RSA_BITS} bits under profile fapi2 (has ${bits})`
  }
  if (jwk.kty === 'EC' && jwk.crv !== 'P-256')
    return 'crv must be P-256 (ES256) for an EC key under profile fapi2'
  if (jwk.kty === 'OKP' && jwk.crv !== 'Ed25519')
    return 'crv must be Ed25519 (EdDSA) for an OKP key under profile fapi2'
  return undefined
}

// The modulus length in bits, leading zero bytes left out; 0 for anything that is not base64url.
function rsaModulusBits(n: unknown): number {
  if (typeof n !== 'string' || !/^[A-Za-z0-9_-]+$/.test(n)) return 0
  const bytes = Buffer.from(n, 'base64url')
  let first = 0
  while (first < bytes.length && bytes[first] === 0) first++
  if (first === bytes.length) return 0
  return (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first]!))
}

/**
 * Every server setting that breaks the profile, as `<path>: <problem>`. Settings shared by all
 * clients (PAR lifetime, token signing, `iss`, clock tolerance) are checked as soon as one
 * client runs the profile; the others only when the whole server does.
 * @example
 * ```ts
 * for (const issue of fapi2ServerIssues(config)) checker.issues.push(issue)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2
 */
export function fapi2ServerIssues(config: AuthorizationServerConfig): string[] {
  if (!usesFapi2(config)) return []
  const issues: string[] = []
  const fail = (path: string, problem: string) => issues.push(`${path}: ${problem}`)
  if (config.par.lifetime > FAPI2_MAX_PAR_LIFETIME)
    fail('par.lifetime', `must be under 600 seconds under profile fapi2`)
  if (!ALGORITHMS.includes(config.signing.alg))
    fail('signing.alg', `must be one of ${ALGORITHMS.join(', ')} under profile fapi2`)
  if (!config.authorizationResponse.iss)
    fail('authorizationResponse.iss', 'must be true under profile fapi2 (RFC 9207)')
  const tolerance = config.dpop.clockTolerance
  if (tolerance < FAPI2_CLOCK_TOLERANCE.min || tolerance > FAPI2_CLOCK_TOLERANCE.max)
    fail(
      'dpop.clockTolerance',
      `must be from ${FAPI2_CLOCK_TOLERANCE.min} to ${FAPI2_CLOCK_TOLERANCE.max} seconds under profile fapi2`,
    )
  if (config.profile !== 'fapi2') return issues
  if (!config.par.required) fail('par.required', 'must be true under profile fapi2')
  if (!config.dpop.required) fail('dpop.required', 'must be true under profile fapi2')
  if (config.authorizationCodes.lifetime > FAPI2_MAX_CODE_LIFETIME)
    fail(
      'authorizationCodes.lifetime',
      `must be at most ${FAPI2_MAX_CODE_LIFETIME} seconds under profile fapi2`,
    )
  config.dpop.algorithms.forEach((alg, i) => {
    if (!ALGORITHMS.includes(alg))
      fail(`dpop.algorithms[${i}]`, `must be one of ${ALGORITHMS.join(', ')} under profile fapi2`)
  })
  return issues
}

/**
 * Algorithms a client may sign its assertions and request objects with: the profile's three
 * under the profile, `fallback` otherwise.
 * @example
 * ```ts
 * jwtVerify(assertion, keys, { algorithms: [...clientAlgorithms(ctx.config, client, CLIENT_ASSERTION_ALGORITHMS)] })
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.4
 */
export function clientAlgorithms(
  config: AuthorizationServerConfig,
  client: Client,
  fallback: readonly string[],
): readonly string[] {
  return isFapi2(config, client) ? fallback.filter((alg) => ALGORITHMS.includes(alg)) : fallback
}

/**
 * The FAPI 2.0 time rule for a JWT a client signed (client assertion, request object): `iat`
 * and `nbf` at most `dpop.clockTolerance` (10 to 60 s) in the future. Throws `code` otherwise.
 * @example
 * ```ts
 * checkFapi2JwtTimes(ctx, payload, 'invalid_client', 'client assertion')
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function checkFapi2JwtTimes(
  ctx: ServerContext,
  claims: Record<string, unknown>,
  code: 'invalid_client' | 'invalid_request_object',
  what: string,
): void {
  const latest = Math.floor(ctx.now() / 1000) + ctx.config.dpop.clockTolerance
  for (const claim of ['iat', 'nbf'] as const) {
    const value = claims[claim]
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new OAuthError(code, `${what} "${claim}" must be a number`)
    if (value > latest)
      throw new OAuthError(code, `${what} "${claim}" is too far in the future (FAPI 2.0)`)
  }
}

/**
 * The profile's checks of a DPoP proof the generic checks already accepted: one of the three
 * algorithms, and a time window applied even when a nonce dated the proof — `iat` no older than
 * `dpop.maxAge`, `iat` and `nbf` at most `dpop.clockTolerance` ahead, `exp` (when sent) not
 * passed. Throws `invalid_dpop_proof`.
 * @example
 * ```ts
 * if (proof && isFapi2(ctx.config, client)) checkFapi2Proof(ctx, proof)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function checkFapi2Proof(ctx: ServerContext, proof: VerifiedProof): void {
  if (!ALGORITHMS.includes(proof.header.alg))
    throw new OAuthError(
      'invalid_dpop_proof',
      `DPoP proof "alg" must be one of ${ALGORITHMS.join(', ')} (FAPI 2.0)`,
    )
  const { maxAge, clockTolerance } = ctx.config.dpop
  const now = Math.floor(ctx.now() / 1000)
  const { iat, nbf, exp } = proof.claims
  // Core's window, with the profile's bounds: applied even when a nonce dated the proof.
  const iatProblem = issuedAtProblem(iat, now, maxAge, clockTolerance)
  if (iatProblem === 'stale')
    throw new OAuthError('invalid_dpop_proof', 'DPoP proof "iat" is too old')
  if (iatProblem === 'future')
    throw new OAuthError('invalid_dpop_proof', 'DPoP proof "iat" is too far in the future')
  if (nbf !== undefined && !isNotBeforeReached(nbf, now, clockTolerance))
    throw new OAuthError('invalid_dpop_proof', 'DPoP proof "nbf" is not a time already reached')
  if (exp !== undefined && !isBeforeExpiry(exp, now, clockTolerance))
    throw new OAuthError('invalid_dpop_proof', 'DPoP proof "exp" has passed')
}

/**
 * The profile's rules for a pushed authorization request, after the client authenticated:
 * only a `private_key_jwt` client, `redirect_uri` in the request itself, and a proof (when one
 * was sent) that passes {@link checkFapi2Proof}.
 * @example
 * ```ts
 * if (isFapi2(ctx.config, client)) checkFapi2PushedRequest(ctx, client, effective, proof)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.2
 */
export function checkFapi2PushedRequest(
  ctx: ServerContext,
  client: Client,
  params: Parameters,
  proof: VerifiedProof | undefined,
): void {
  checkConfidential(client)
  if (params.redirect_uri === undefined)
    throw new OAuthError(
      'invalid_request',
      '"redirect_uri" is required in a pushed request (FAPI 2.0)',
    )
  if (proof !== undefined) checkFapi2Proof(ctx, proof)
}

/**
 * The profile's rules at the token endpoint, after the client authenticated: a
 * `private_key_jwt` client and a DPoP proof (every token is sender-constrained) that passes
 * {@link checkFapi2Proof}.
 * @example
 * ```ts
 * if (isFapi2(ctx.config, client)) checkFapi2TokenRequest(ctx, client, proof)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function checkFapi2TokenRequest(
  ctx: ServerContext,
  client: Client,
  proof: VerifiedProof | undefined,
): asserts proof is VerifiedProof {
  checkConfidential(client)
  if (proof === undefined)
    throw new OAuthError(
      'invalid_request',
      'DPoP proof is required (FAPI 2.0; DPoP header missing)',
    )
  checkFapi2Proof(ctx, proof)
}

// A dynamically registered client could carry another method; the profile allows only one.
function checkConfidential(client: Client): void {
  if (client.token_endpoint_auth_method !== 'private_key_jwt')
    throw new OAuthError('invalid_client', 'this client must use private_key_jwt (FAPI 2.0)')
}

/**
 * How long a code issued to `client` lives: the configured lifetime, at most 60 s under the
 * profile.
 * @example
 * ```ts
 * expires_at: now + codeLifetime(ctx.config, client)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function codeLifetime(config: AuthorizationServerConfig, client: Client): number {
  const lifetime = config.authorizationCodes.lifetime
  return isFapi2(config, client) ? Math.min(lifetime, FAPI2_MAX_CODE_LIFETIME) : lifetime
}

/**
 * Whether a refresh of `client` replaces its refresh token. Under the profile a confidential
 * client keeps its refresh token ("shall not use refresh token rotation except in extraordinary
 * circumstances"); everywhere else every use rotates it (ADR 0023).
 * @example
 * ```ts
 * if (rotatesRefreshTokens(ctx.config, client)) markRotated(row)
 * ```
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function rotatesRefreshTokens(config: AuthorizationServerConfig, client: Client): boolean {
  return !(isFapi2(config, client) && client.token_endpoint_auth_method !== 'none')
}
