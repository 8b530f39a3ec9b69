/**
 * A test authorization server reduced to what a resource server needs: an ES256 signing key,
 * its JWKS served over real HTTP on loopback, and RFC 9068 access tokens bound to a DPoP key
 * with `cnf.jkt` (RFC 9449 §6.1).
 */
import { createServer, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose'
import { listen } from '@keybound/test-kit/net'

export interface TestIssuer {
  readonly issuer: string
  readonly jwksUri: string
  /** Number of JWKS fetches served. */
  readonly jwksHits: () => number
  issue(claims: TokenClaims): Promise<string>
  close(): Promise<void>
}

export interface TokenClaims {
  sub?: string
  clientId?: string
  scope?: string
  /** `cnf.jkt`; leave out for an unbound (Bearer) token. */
  jkt?: string
  audience?: string
  expiresIn?: number
  extra?: Record<string, unknown>
  /** The JWT header `typ` (default `at+jwt`); Keycloak sends `JWT`. */
  headerTyp?: string
  /** Leave out the `client_id` claim (providers that name the client `azp`). */
  withoutClientId?: boolean
}

export const AUDIENCE = 'https://api.example.test'

/** Starts the issuer on 127.0.0.1 with a fresh key. */
export async function startIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' }
  let hits = 0
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      // OpenID Connect Discovery: how a validator without a jwksUri finds the keys.
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ issuer: origin, jwks_uri: `${origin}/jwks` }))
    } else if (req.url === '/jwks') {
      hits++
      res
        .writeHead(200, { 'content-type': 'application/jwk-set+json' })
        .end(JSON.stringify({ keys: [jwk] }))
    } else {
      res.writeHead(404).end()
    }
  })
  const origin = (await listen(server)).url
  return {
    issuer: origin,
    jwksUri: `${origin}/jwks`,
    jwksHits: () => hits,
    issue: (claims) => signToken(privateKey, origin, claims),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

async function signToken(key: CryptoKey, issuer: string, claims: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const payload: Record<string, unknown> = {
    ...(claims.withoutClientId === true ? {} : { client_id: claims.clientId ?? 'test-client' }),
    scope: claims.scope ?? 'items:read',
    ...claims.extra,
  }
  if (claims.jkt !== undefined) payload.cnf = { jkt: claims.jkt }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: claims.headerTyp ?? 'at+jwt', kid: 'test-key' })
    .setIssuer(issuer)
    .setAudience(claims.audience ?? AUDIENCE)
    .setSubject(claims.sub ?? 'alice')
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.expiresIn ?? 300))
    .setJti(randomUUID())
    .sign(key)
}
