/**
 * The MCP stack the MCP tests share: an MCP server on loopback whose `/mcp` URL is the resource
 * the Keybound authorization server (SQLite in a temporary folder) issues DPoP-bound tokens for
 * (RFC 8707). The server listens first, because its URL is the resource identifier the AS is
 * configured with; its request handler is wired once the AS's issuer is known.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type RequestListener } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthorizationServer, type AuthorizationServer } from '@keybound/authorization-server'
import { closeServer, listen } from './net.js'

/** What {@link startMcpStack} is given. */
export interface McpStackOptions {
  /** The AS config without `resources` and `storage`, which the stack fills in. */
  authorizationServer: Record<string, unknown>
  /** Builds the MCP server's request handler (the example's `createMcpApp(...).app`). */
  createApp(base: string, issuer: string): RequestListener
}

/** A running MCP stack. */
export interface McpStack {
  /** The MCP server's origin, `http://127.0.0.1:<port>`. */
  base: string
  /** `${base}/mcp`: the MCP endpoint and the resource identifier. */
  resource: string
  issuer: string
  as: AuthorizationServer
  /** Stops the MCP server and the AS and deletes the AS's data. */
  close(): Promise<void>
}

/** Starts the MCP server and the AS that protects it; close it in `afterAll`. */
export async function startMcpStack(options: McpStackOptions): Promise<McpStack> {
  const http = createServer()
  const { url: base } = await listen(http)
  const dataDir = await mkdtemp(join(tmpdir(), 'kb-mcp-stack-'))
  const close = async (as?: AuthorizationServer): Promise<void> => {
    await closeServer(http)
    await as?.close()
    await rm(dataDir, { recursive: true, force: true })
  }
  let as: AuthorizationServer
  try {
    as = await createAuthorizationServer(
      {
        ...options.authorizationServer,
        resources: [{ identifier: `${base}/mcp` }],
        storage: { dataDir },
      },
      { logger: false as never, env: {} },
    )
  } catch (error) {
    await close()
    throw error
  }
  const issuer = await as.listen()
  http.on('request', options.createApp(base, issuer))
  return { base, resource: `${base}/mcp`, issuer, as, close: () => close(as) }
}
