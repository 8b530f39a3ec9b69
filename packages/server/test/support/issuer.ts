/**
 * A local test issuer: ES256 signing keys, a real JWKS served over HTTP on loopback, and
 * RFC 9068 JWT access tokens, bound (`cnf.jkt`) or not. Keys can be rotated.
 */
import { createServer } from 'node:http'
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { listen } from '@keybound/test-kit/net'

export interface MintOptions {
  jkt?: string
  sub?: string
  clientId?: string
  scope?: string
  typ?: string
  aud?: string
  iss?: string
  /** Seconds from now (negative for an expired token). */
  expiresIn?: number
  claims?: Record<string, unknown>
}

export interface TestIssuer {
  readonly issuer: string
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

export async function startTestIssuer(audience = 'https://rs.example.test'): Promise<TestIssuer> {
  let keys: SigningKey[] = [await newKey()]
  let fetches = 0
  const server = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.statusCode = 404
      res.end()
      return
    }
    fetches++
    res.setHeader('Content-Type', 'application/jwk-set+json')
    res.end(JSON.stringify({ keys: keys.map((key) => key.publicJwk) }))
  })
  const { url, close } = await listen(server)
  const issuer = `${url}/`
  return {
    issuer,
    jwksUri: `${url}/jwks`,
    audience,
    get jwksFetches() {
      return fetches
    },
    get kid() {
      return keys[0]!.kid
    },
    async mint(options = {}) {
      const key = keys[0]!
      const now = Math.floor(Date.now() / 1000)
      const payload: Record<string, unknown> = {
        client_id: options.clientId ?? 'client-1',
        scope: options.scope ?? 'read write',
        ...(options.jkt === undefined ? {} : { cnf: { jkt: options.jkt } }),
        ...options.claims,
      }
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: options.typ ?? 'at+jwt' })
        .setIssuer(options.iss ?? issuer)
        .setAudience(options.aud ?? audience)
        .setSubject(options.sub ?? 'alice')
        .setIssuedAt(now)
        .setJti(randomUUID())
        .setExpirationTime(now + (options.expiresIn ?? 300))
        .sign(key.privateKey)
    },
    async rotate(keepOld = false) {
      const key = await newKey()
      keys = keepOld ? [key, ...keys] : [key]
    },
    close,
  }
}
