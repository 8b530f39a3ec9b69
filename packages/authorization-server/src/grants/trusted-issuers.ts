/**
 * Access tokens of outside authorization servers that the operator trusts as subject tokens of
 * a token exchange (RFC 8693 §2.1): JWTs (RFC 9068) checked against the issuer's JWKS, fetched
 * from its `jwksUri` (kept for five minutes, fetched again at most every 30 s for an unknown
 * `kid`) or given inline. Anything that cannot be checked is refused; nothing is accepted on
 * a guess.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 * @packageDocumentation
 */
import { decodeSegment } from '../jwt/segments.js'
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { TrustedIssuerAlgorithm, TrustedIssuerConfig } from './token-exchange-config.js'
import { OAuthError } from '../http/wire.js'

/**
 * The checked claims of a JWT (RFC 7519 §4) and its decoded header.
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4
 */
export interface VerifiedJwt {
  header: Record<string, unknown>
  claims: Record<string, unknown>
}

interface CachedKeys {
  keys: Record<string, unknown>[]
  fetchedAt: number
}

const KEEP_MS = 300_000
const REFETCH_AFTER_MS = 30_000
const FETCH_TIMEOUT_MS = 5_000
const MIN_RSA_BITS = 2048
const cache = new WeakMap<TrustedIssuerConfig, CachedKeys>()

function invalidSubject(reason: string): OAuthError {
  // RFC 8693 §2.2.2: an invalid or unacceptable subject or actor token is invalid_request.
  return new OAuthError('invalid_request', reason)
}

async function fetchKeys(issuer: TrustedIssuerConfig): Promise<Record<string, unknown>[]> {
  let response: Response
  try {
    response = await fetch(issuer.jwksUri!, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    })
  } catch (cause) {
    throw new OAuthError('temporarily_unavailable', "a trusted issuer's JWKS cannot be fetched", {
      cause,
    })
  }
  const body = (await response.json().catch(() => undefined)) as { keys?: unknown } | undefined
  if (!response.ok || !Array.isArray(body?.keys)) {
    throw new OAuthError('temporarily_unavailable', "a trusted issuer's JWKS cannot be read", {
      cause: new Error(`JWKS answered HTTP ${response.status}`),
    })
  }
  return body.keys.filter(
    (key): key is Record<string, unknown> => typeof key === 'object' && key !== null,
  )
}

async function keysOf(
  issuer: TrustedIssuerConfig,
  kid: unknown,
  now: number,
): Promise<Record<string, unknown>[]> {
  if (issuer.jwks !== undefined) return issuer.jwks.keys
  const cached = cache.get(issuer)
  const known = cached?.keys.some((key) => key.kid === kid) === true
  const fresh = cached !== undefined && now - cached.fetchedAt < KEEP_MS
  const mayRefetch = cached === undefined || now - cached.fetchedAt >= REFETCH_AFTER_MS
  if (cached !== undefined && fresh && (known || !mayRefetch)) return cached.keys
  const keys = await fetchKeys(issuer)
  cache.set(issuer, { keys, fetchedAt: now })
  return keys
}

function pickKey(
  keys: Record<string, unknown>[],
  header: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const usable = keys.filter(
    (key) =>
      (key.use === undefined || key.use === 'sig') &&
      (key.alg === undefined || key.alg === header.alg),
  )
  if (header.kid !== undefined) return usable.find((key) => key.kid === header.kid)
  // Without a kid only an unambiguous key will do.
  return usable.length === 1 ? usable[0] : undefined
}

function publicKeyOf(jwk: Record<string, unknown>): KeyObject | undefined {
  if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk)) return undefined
  try {
    const key = createPublicKey({ key: jwk as never, format: 'jwk' })
    const bits = key.asymmetricKeyDetails?.modulusLength
    if (key.asymmetricKeyType === 'rsa' && (bits === undefined || bits < MIN_RSA_BITS))
      return undefined
    return key
  } catch {
    return undefined
  }
}

function expectedKeyType(alg: TrustedIssuerAlgorithm): string[] {
  if (alg === 'ES256' || alg === 'ES384') return ['ec']
  if (alg === 'EdDSA') return ['ed25519', 'ed448']
  return ['rsa']
}

function checkSignature(
  alg: TrustedIssuerAlgorithm,
  key: KeyObject,
  data: Buffer,
  signature: Buffer,
): boolean {
  if (!expectedKeyType(alg).includes(key.asymmetricKeyType ?? '')) return false
  switch (alg) {
    case 'ES256':
      return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    case 'ES384':
      return verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    case 'EdDSA':
      return verify(null, data, key, signature)
    case 'PS256':
      return verify(
        'sha256',
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signature,
      )
    case 'RS256':
      return verify('sha256', data, key, signature)
  }
}

function audiencesOf(claims: Record<string, unknown>): string[] {
  if (typeof claims.aud === 'string') return [claims.aud]
  return Array.isArray(claims.aud)
    ? claims.aud.filter((item): item is string => typeof item === 'string')
    : []
}

function checkClaims(
  claims: Record<string, unknown>,
  issuer: TrustedIssuerConfig,
  expectedAudience: string,
  nowSeconds: number,
): void {
  if (claims.iss !== issuer.issuer) throw invalidSubject('subject_token "iss" does not match')
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds)
    throw invalidSubject('subject_token is expired or has no "exp"')
  if (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + 60)
    throw invalidSubject('subject_token is not valid yet ("nbf")')
  if (typeof claims.sub !== 'string' || claims.sub === '')
    throw invalidSubject('subject_token has no "sub"')
  if (!audiencesOf(claims).includes(issuer.audience ?? expectedAudience))
    throw invalidSubject('subject_token is not meant for this server ("aud")')
}

/**
 * Verifies a trusted issuer's JWT access token: `alg` from the issuer's list, `typ` `at+jwt`
 * when `requireAccessTokenType`, the signature with a key of its JWKS, `iss`, `exp`, `nbf`,
 * `sub` and `aud` (the issuer's configured `audience`, else this server's issuer). Refusals are
 * `invalid_request` (RFC 8693 §2.2.2); a JWKS that cannot be fetched is `temporarily_unavailable`.
 * @example
 * ```ts
 * const { claims } = await verifyTrustedJwt(issuer, token, ctx.urls().issuer, Date.now(), true)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export async function verifyTrustedJwt(
  issuer: TrustedIssuerConfig,
  token: string,
  expectedAudience: string,
  nowMs: number,
  requireAccessTokenType: boolean,
): Promise<VerifiedJwt> {
  const [headerPart, payloadPart, signaturePart] = token.split('.') as [string, string, string]
  const header = decodeSegment(headerPart)
  const claims = decodeSegment(payloadPart)
  if (header === undefined || claims === undefined)
    throw invalidSubject('subject_token is not a JWT')
  const alg = header.alg as TrustedIssuerAlgorithm
  if (!issuer.algorithms.includes(alg))
    throw invalidSubject('subject_token "alg" is not accepted for its issuer')
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined
  if (requireAccessTokenType && typ !== 'at+jwt' && typ !== 'application/at+jwt')
    throw invalidSubject('subject_token is not an access token (typ at+jwt, RFC 9068 §2.1)')
  if (typ === 'dpop+jwt') throw invalidSubject('subject_token is a DPoP proof, not a token')
  const jwk = pickKey(await keysOf(issuer, header.kid, nowMs), header)
  const key = jwk === undefined ? undefined : publicKeyOf(jwk)
  if (key === undefined) throw invalidSubject("subject_token's signing key is not known")
  const data = Buffer.from(`${headerPart}.${payloadPart}`)
  if (!checkSignature(alg, key, data, Buffer.from(signaturePart, 'base64url')))
    throw invalidSubject('subject_token signature does not verify')
  checkClaims(claims, issuer, expectedAudience, Math.floor(nowMs / 1000))
  return { header, claims }
}
