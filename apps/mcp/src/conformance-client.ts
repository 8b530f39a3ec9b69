/**
 * The client under test for the MCP conformance suite's DPoP client scenarios (`auth/dpop`,
 * `auth/dpop-nonce`). The suite runs `node conformance-client.js <server-url>`: the client
 * starts from the server's 401 alone, registers itself, gets a DPoP-bound token through the
 * authorization-code grant, then initializes, lists the tools and calls `test-tool`.
 *
 * The suite's test authorization server approves every authorization request at once and
 * redirects, so `authorize` only reads the redirect's `Location`: no browser is involved.
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 */
import { generateKeyPair } from '@keybound/core'
import { authorizationCodeGrant, connectMcpClient } from './client.js'

// Never listened on: the test authorization server redirects here and the client reads it.
const REDIRECT_URI = 'http://127.0.0.1:9876/callback'

async function authorizeHeadless(authorizationUrl: string): Promise<string> {
  const response = await fetch(authorizationUrl, { redirect: 'manual' })
  await response.body?.cancel()
  const location = response.headers.get('location')
  if (location === null)
    throw new Error(`the authorization endpoint answered ${response.status} without a redirect`)
  return new URL(location, authorizationUrl).href
}

async function main(serverUrl: string | undefined): Promise<void> {
  if (serverUrl === undefined) throw new Error('usage: conformance-client <server-url>')
  const { client, close } = await connectMcpClient(serverUrl, {
    key: await generateKeyPair('ES256'),
    obtainToken: authorizationCodeGrant({
      redirectUri: REDIRECT_URI,
      clientName: 'keybound-conformance-client',
      authorize: authorizeHeadless,
    }),
  })
  await client.listTools()
  await client.callTool({ name: 'test-tool', arguments: {} })
  await close()
}

main(process.argv.at(-1)?.startsWith('http') ? process.argv.at(-1) : undefined).then(
  () => process.exit(0),
  (error: unknown) => {
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    console.error(`conformance client failed: ${described}`)
    process.exit(1)
  },
)
