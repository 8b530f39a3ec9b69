/**
 * A real resource server for the client tests: `@keybound/server`'s `createResourceServer` with
 * RFC 9068 JWT access tokens from a JWKS over HTTP and RS nonces on, served on 127.0.0.1. It
 * trusts its issuer once that is known (the AS needs the RS URL as audience first).
 */
import { randomBytes } from 'node:crypto'
import {
  createResourceServer,
  jwtAccessTokens,
  renderRejection,
  type ResourceServer,
} from '@keybound/server'
import { startServer, type LoopbackServer } from './http.js'

export interface ProtectedApi extends LoopbackServer {
  /** This API's identifier: the `aud` its tokens must carry. */
  resource: string
  trust(options: { issuer: string; jwksUri: string; nonces?: boolean }): Promise<void>
  /** Verdicts by status, for assertions about the nonce round trip. */
  statuses: number[]
}

export async function startProtectedApi(): Promise<ProtectedApi> {
  let resourceServer: ResourceServer | undefined
  const statuses: number[] = []
  let base = ''
  const server = await startServer(async (request) => {
    const headers = { 'access-control-allow-origin': '*' }
    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: {
          ...headers,
          'access-control-allow-headers': 'authorization, dpop',
          'access-control-allow-methods': 'GET, POST',
        },
      })
    }
    if (resourceServer === undefined) return new Response('not configured', { status: 503 })
    const verdict = await resourceServer.verifyRequest(
      { method: request.method, url: request.url.slice(base.length), headers: request.headers },
      { scopes: ['api:read'] },
    )
    if (!verdict.ok) {
      statuses.push(verdict.status)
      const { status, headers: rejectionHeaders, body } = renderRejection(verdict)
      return new Response(body || null, { status, headers: { ...rejectionHeaders, ...headers } })
    }
    statuses.push(200)
    const { jkt, subject, clientId } = verdict.identity
    return Response.json(
      { jkt, subject, clientId, path: new URL(request.url).pathname },
      { headers: { ...verdict.responseHeaders, ...headers } },
    )
  })
  base = server.url
  return Object.assign(server, {
    resource: server.url,
    statuses,
    async trust(options: { issuer: string; jwksUri: string; nonces?: boolean }) {
      resourceServer = createResourceServer({
        publicBaseUrl: server.url,
        accessTokens: jwtAccessTokens({
          issuer: options.issuer,
          audience: server.url,
          jwksUri: options.jwksUri,
        }),
        ...(options.nonces === false ? {} : { nonces: { secret: randomBytes(32) } }),
      })
    },
  })
}
