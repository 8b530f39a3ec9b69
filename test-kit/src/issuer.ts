/**
 * The one JWT test issuer: ES256 signing keys, a real JWKS and OpenID Connect discovery served
 * over HTTP on loopback, and RFC 9068 JWT access tokens, DPoP-bound with `cnf.jkt` (RFC 9449
 * §6.1) or not. Keys can be rotated. Whatever differs between suites (the audience, the default
 * scope and client) is an option of {@link startTestIssuer}, never a second issuer.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
import { createServer, type ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { listen } from './net.js'

/** What one token differs in; every field left out takes the issuer's default. */
export interface MintOptions {
  /** `cnf.jkt`; leave out for an unbound (Bearer) token. */
  jkt?: string
  /** `sub` (default `alice`). */
  sub?: string
  /** `client_id` (default: the issuer's `clientId`); `claims: { client_id: undefined }` drops it. */
  clientId?: string
  /** `scope` (default: the issuer's `scope`). */
  scope?: string
  /** The JWT header `typ` (default `at+jwt`; Keycloak, for one, sends `JWT`). */
  typ?: string
  /** `aud` (default: the issuer's `audience`). */
  aud?: string
  /** `iss` (default: the issuer's own identifier). */
  iss?: string
  /** Seconds from now (default 300; negative for an expired token). */
  expiresIn?: number
  /** Claims set last, over the ones above (to add or forge shapes). */
  claims?: Record<string, unknown>
}

/** How a suite's issuer differs from another suite's. */
export interface TestIssuerOptions {
  /** The `aud` of every token unless {@link MintOptions.aud} names another. */
  audience: string
  /** The default `client_id` (default `client-1`). */
  clientId?: string
  /** The default `scope` (default `read write`). */
  scope?: string
}

export interface TestIssuer {
  /** The issuer identifier, `http://127.0.0.1:<port>/`: what `iss` carries. */
  readonly issuer: string
  /** The origin, `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  readonly jwksUri: string
  readonly audience: string
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number
  /** The `kid` of the current signing key. */
  readonly kid: string
  mint(options?: MintOptions): Promise<string>
  /** Generates a new signing key; the JWKS then serves only the new key (`keepOld` keeps both). */
  rotate(keepOld?: boolean): Promise<void>
  close(): Promise<void>
}

interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const kid = randomUUID()
  return {
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
  }
}

function sendJson(res: ServerResponse, contentType: string, body: unknown): void {
  res.writeHead(200, { 'content-type': contentType }).end(JSON.stringify(body))
}

/**
 * Starts the issuer on 127.0.0.1 with a fresh key. It serves `/jwks` and, for validators given
 * only the issuer, `/.well-known/openid-configuration` naming that JWKS.
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
export async function startTestIssuer(options: TestIssuerOptions): Promise<TestIssuer> {
  const { audience, clientId = 'client-1', scope = 'read write' } = options
  let keys: SigningKey[] = [await newKey()]
  let fetches = 0
  let issuer = ''
  const server = createServer((req, res) => {
    if (req.url === '/jwks') {
      fetches++
      sendJson(res, 'application/jwk-set+json', { keys: keys.map((key) => key.publicJwk) })
    } else if (req.url === '/.well-known/openid-configuration') {
      sendJson(res, 'application/json', { issuer, jwks_uri: `${issuer}jwks` })
    } else {
      res.writeHead(404).end()
    }
  })
  const { url, close } = await listen(server)
  issuer = `${url}/`
  return {
    issuer,
    url,
    jwksUri: `${url}/jwks`,
    audience,
    get jwksFetches() {
      return fetches
    },
    get kid() {
      return keys[0]!.kid
    },
    async mint(mint = {}) {
      const key = keys[0]!
      const now = Math.floor(Date.now() / 1000)
      const payload: Record<string, unknown> = {
        client_id: mint.clientId ?? clientId,
        scope: mint.scope ?? scope,
        ...(mint.jkt === undefined ? {} : { cnf: { jkt: mint.jkt } }),
        ...mint.claims,
      }
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: mint.typ ?? 'at+jwt' })
        .setIssuer(mint.iss ?? issuer)
        .setAudience(mint.aud ?? audience)
        .setSubject(mint.sub ?? 'alice')
        .setIssuedAt(now)
        .setJti(randomUUID())
        .setExpirationTime(now + (mint.expiresIn ?? 300))
        .sign(key.privateKey)
    },
    async rotate(keepOld = false) {
      const key = await newKey()
      keys = keepOld ? [key, ...keys] : [key]
    },
    close,
  }
}
