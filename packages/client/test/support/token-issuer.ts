/**
 * A minimal local token issuer for resource-server tests: mints RFC 9068 JWT access tokens
 * (`typ: at+jwt`) bound with `cnf.jkt`, signed by a key whose JWKS it serves over real HTTP.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { randomUUID } from 'node:crypto'
import { startServer, type LoopbackServer } from './http.js'

export interface TokenIssuer extends LoopbackServer {
  issuer: string
  jwksUri: string
  mint(options: {
    audience: string
    jkt: string
    scope?: string
    expiresIn?: number
    subject?: string
  }): Promise<string>
}

export async function startTokenIssuer(): Promise<TokenIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'issuer-key-1', alg: 'ES256', use: 'sig' }
  const server = await startServer((request) =>
    new URL(request.url).pathname === '/jwks'
      ? Response.json({ keys: [jwk] })
      : new Response(null, { status: 404 }),
  )
  return Object.assign(server, {
    issuer: server.url,
    jwksUri: `${server.url}/jwks`,
    mint: ({
      audience,
      jkt,
      scope = 'api:read',
      expiresIn = 300,
      subject = 'alice',
    }: Parameters<TokenIssuer['mint']>[0]) =>
      new SignJWT({ scope, client_id: 'test-client', cnf: { jkt } })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'issuer-key-1' })
        .setIssuer(server.url)
        .setAudience(audience)
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime(`${expiresIn}s`)
        .setJti(randomUUID())
        .sign(privateKey),
  })
}
