/**
 * What the HTTP benchmark suites share: base64url helpers, a free loopback port, and a token
 * issuer serving a real JWKS over HTTP.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

/** The audience (and public base URL) of the benchmark APIs. */
export const AUDIENCE = 'https://api.bench.test'

export const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createNetServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** A JWKS over HTTP (fetched once per app at its first request) and a token signer. */
export async function startIssuer(): Promise<{
  issuer: string
  jwksUri: string
  server: Server
  mint: (jkt?: string) => Promise<string>
}> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const kid = randomUUID()
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }],
  })
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/jwk-set+json')
    res.end(jwks)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const mint = async (jkt?: string): Promise<string> => {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({
      scope: 'read',
      client_id: 'bench-client',
      ...(jkt ? { cnf: { jkt } } : {}),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('bench-user')
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .setJti(randomUUID())
      .sign(privateKey)
  }
  return { issuer, jwksUri: `${issuer}jwks`, server, mint }
}
