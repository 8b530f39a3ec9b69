/**
 * The example MCP server end to end, over real HTTP on loopback: the MCP SDK's Streamable HTTP
 * transport behind @keybound/server (DPoP, RS nonces, RFC 9728 metadata), the real Keybound
 * authorization server (SQLite in a temp folder) issuing DPoP-bound tokens for the MCP
 * endpoint (RFC 8707 resource), and the MCP client on @keybound/client starting from a 401.
 */
import {
  clientCredentialsGrant,
  clientSecretBasic,
  createTokenClient,
  discover,
} from '@keybound/client'
import { generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMcpStack, type McpStack } from '@keybound/test-kit/mcp-stack'
import { connectMcpClient, createMcpApp } from '../src/index.js'

const SECRET = 'mcp-agent-secret-0123456789abcdef'

let stack: McpStack
let issuer: string
let base: string
let key: DPoPKeyPair

beforeAll(async () => {
  stack = await startMcpStack({
    authorizationServer: {
      clients: [
        {
          client_id: 'agent',
          client_secret: SECRET,
          grant_types: ['client_credentials'],
          scope: 'mcp',
          dpop_bound_access_tokens: true,
        },
      ],
    },
    createApp: (origin, as) => createMcpApp({ publicBaseUrl: origin, issuer: as }).app,
  })
  ;({ issuer, base } = stack)
  key = await generateKeyPair('ES256')
})
afterAll(() => stack?.close())

function agentGrant() {
  return clientCredentialsGrant({
    clientId: 'agent',
    clientAuth: clientSecretBasic(SECRET),
    issuer,
  })
}

describe('the Keybound-protected MCP server (RS34)', () => {
  it('RS34: serves its RFC 9728 metadata at the path-suffixed well-known URL', async () => {
    const response = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      resource: `${base}/mcp`,
      authorization_servers: [issuer],
      scopes_supported: ['mcp'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: expect.arrayContaining(['ES256', 'EdDSA']),
      dpop_bound_access_tokens_required: true,
      resource_name: 'Keybound MCP example',
    })
  })

  it('RS34: refuses an MCP request without a token with a challenge naming the metadata', async () => {
    const response = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain(
      `resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
    )
  })

  it('RS34: refuses the DPoP-bound token sent as Bearer, as the MCP SDK client would send it', async () => {
    const tokens = createTokenClient({
      metadata: await discover(issuer),
      clientId: 'agent',
      clientAuth: clientSecretBasic(SECRET),
      key,
    })
    const { accessToken } = await tokens.clientCredentials({ resource: `${base}/mcp` })
    // The SDK client without a DPoP fetch: its transport sends `Authorization: Bearer`.
    const client = new Client({ name: 'plain-sdk-client', version: '1.0.0' })
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    })
    await expect(client.connect(transport)).rejects.toThrow(/Bearer tokens are not accepted/)
  })
})

describe('the MCP client on @keybound/client (C20)', () => {
  it('C20: starts from the 401, gets a DPoP-bound token from the Keybound AS and calls tools', async () => {
    const {
      client,
      fetch: mcpFetch,
      close,
    } = await connectMcpClient(`${base}/mcp`, {
      key,
      obtainToken: agentGrant(),
    })
    try {
      const { tools } = await client.listTools()
      expect(tools.map((tool) => tool.name).sort()).toEqual(['add', 'whoami'])
      const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })
      expect(sum.content).toEqual([{ type: 'text', text: '5' }])
      const whoami = await client.callTool({ name: 'whoami', arguments: {} })
      const [text] = whoami.content as Array<{ text: string }>
      // The server saw the proof key this client holds: the token is bound to it.
      expect(JSON.parse(text!.text)).toMatchObject({
        clientId: 'agent',
        jkt: key.jkt,
        scope: ['mcp'],
      })
      expect(mcpFetch.tokenClients.get(`${base}/mcp`)?.tokens?.tokenType).toBe('DPoP')
    } finally {
      await close()
    }
  })

  it('C20: a token bound to another key is refused even with a valid proof of its own', async () => {
    const other = await generateKeyPair('ES256')
    const stolen = createTokenClient({
      metadata: await discover(issuer),
      clientId: 'agent',
      clientAuth: clientSecretBasic(SECRET),
      key: other,
    })
    await stolen.clientCredentials({ resource: `${base}/mcp` })
    // The thief's fetch signs with its own key but sends the other key's token.
    await expect(
      connectMcpClient(`${base}/mcp`, {
        key,
        obtainToken: async () => stolen,
      }),
    ).rejects.toThrow(/401|Unauthorized|invalid_token/)
  })
})
