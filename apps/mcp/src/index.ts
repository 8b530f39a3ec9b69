/**
 * The Keybound MCP example: an MCP server on Streamable HTTP protected by `@keybound/server`
 * (DPoP and RFC 9728 metadata), and an MCP client whose HTTP is `@keybound/client`'s.
 * @see https://www.rfc-editor.org/rfc/rfc9728
 * @packageDocumentation
 */
export { createMcpApp, listenMcpApp, type McpApp, type McpAppOptions } from './server.js'
export {
  authorizationCodeGrant,
  connectMcpClient,
  type AuthorizationCodeGrantOptions,
  type McpClientOptions,
  type McpConnection,
} from './client.js'
