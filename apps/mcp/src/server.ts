/**
 * An MCP server on the SDK's Streamable HTTP transport, protected by `@keybound/server`: every
 * request to `/mcp` needs a DPoP-bound access token and a fresh proof (RFC 9449 §7), and the
 * RFC 9728 metadata at `/.well-known/oauth-protected-resource/mcp` tells a client which
 * authorization server to ask. It runs stateless: one MCP server and transport per request.
 * @see https://www.rfc-editor.org/rfc/rfc9728
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import {
  createProtectedResourceMetadata,
  createResourceServer,
  jwtAccessTokens,
  type ProtectedResourceMetadata,
  type ResourceServer,
  type VerifiedIdentity,
} from '@keybound/server'
import { dpop, protectedResourceMetadata } from '@keybound/server/express'
import express, { type Express } from 'express'
import { z } from 'zod'

/** Options of {@link createMcpApp}. */
export interface McpAppOptions {
  /** Where clients reach this server (`https://tools.example.com`); `/mcp` is the endpoint. */
  publicBaseUrl: string
  /** The authorization server whose RFC 9068 JWT access tokens are accepted. */
  issuer: string
  /** The issuer's JWKS (default `<issuer>/jwks`, where the Keybound authorization server has it). */
  jwksUri?: string
  /** The scope every MCP request needs (default `mcp`). */
  scope?: string
  /** RS nonces (RFC 9449 §9), on by default with a per-process secret. */
  nonces?: boolean
}

/** The app and what it was built from. */
export interface McpApp {
  app: Express
  /** The MCP endpoint's URL: the resource identifier and the tokens' audience. */
  resource: string
  metadata: ProtectedResourceMetadata
  resourceServer: ResourceServer
}

/** The tools: small, and `whoami` shows what the DPoP check established. */
function buildMcpServer(identity: VerifiedIdentity): McpServer {
  const server = new McpServer({ name: 'keybound-mcp-example', version: '0.1.0' })
  server.registerTool(
    'whoami',
    { description: 'Who the access token says the caller is, and the key it is bound to' },
    async () => ({
      content: [
        {
          type: 'text',
          text: JSON.stringify({
            subject: identity.subject ?? null,
            clientId: identity.clientId ?? null,
            jkt: identity.jkt,
            scope: identity.scope,
          }),
        },
      ],
    }),
  )
  server.registerTool(
    'add',
    { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  )
  return server
}

/**
 * Builds the protected MCP app (not yet listening).
 *
 * @example
 * ```ts
 * const { app } = createMcpApp({ publicBaseUrl: 'https://tools.example.com', issuer: 'https://as.example.com' })
 * app.listen(8080)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-5
 */
export function createMcpApp(options: McpAppOptions): McpApp {
  const base = options.publicBaseUrl.replace(/\/+$/, '')
  const resource = `${base}/mcp`
  const scope = options.scope ?? 'mcp'
  const metadata = createProtectedResourceMetadata({
    resource,
    authorizationServers: [options.issuer],
    scopesSupported: [scope],
    resourceName: 'Keybound MCP example',
  })
  const resourceServer = createResourceServer({
    publicBaseUrl: base,
    accessTokens: jwtAccessTokens({
      issuer: options.issuer,
      audience: resource,
      jwksUri: options.jwksUri ?? `${options.issuer}/jwks`,
    }),
    // Stateless nonces: a per-process secret is enough; after a restart clients retry once.
    ...(options.nonces === false
      ? {}
      : { nonces: { secret: randomBytes(32).toString('base64url') } }),
    resourceMetadataUrl: metadata.url,
  })
  const app = express()
  app.use(protectedResourceMetadata(metadata))
  app.use('/mcp', dpop(resourceServer, { scopes: [scope] }), express.json({ limit: '1mb' }))
  app.post('/mcp', async (req, res) => {
    const server = buildMcpServer(req.dpop!)
    // Stateless: no session id generator (the key left out, as the SDK's option type has no
    // `undefined`), one transport per request, closed with the response.
    const transport = new StreamableHTTPServerTransport({})
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    // Widened to Node's request: other packages may add an incompatible `auth` to Express's.
    await transport.handleRequest(req as IncomingMessage, res, req.body)
  })
  // A stateless server has no stream to resume and no session to end (MCP Streamable HTTP).
  app.all('/mcp', (_req, res) => {
    res.status(405).set('Allow', 'POST').end()
  })
  return { app, resource, metadata, resourceServer }
}

/**
 * Starts the app on `host:port` (port 0 picks a free one) and resolves with its base URL.
 * The public base URL must then be known in advance; tests pick a free port first.
 * @example
 * ```ts
 * const { close } = await listenMcpApp(createMcpApp(options).app, 8080, '127.0.0.1')
 * ```
 */
export async function listenMcpApp(
  app: Express,
  port: number,
  host = '127.0.0.1',
): Promise<{ url: string; close(): Promise<void> }> {
  const server = await new Promise<Server>((resolve, reject) => {
    const started = app.listen(port, host, (error?: Error) =>
      error === undefined ? resolve(started) : reject(error),
    )
  })
  const { port: bound } = server.address() as AddressInfo
  return {
    url: `http://${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
