/**
 * An MCP client whose HTTP is `@keybound/client`'s: the SDK's Streamable HTTP transport sends
 * through {@link createResourceFetch}, which signs a fresh DPoP proof per request, answers
 * nonce challenges (RFC 9449 §8, §9) and, on the first 401, follows `resource_metadata` to the
 * authorization server and gets a DPoP-bound token (RFC 9728 §5). The SDK's own OAuth support
 * is not used: it has no hook for a DPoP proof at the token endpoint.
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-5
 * @packageDocumentation
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  createResourceFetch,
  InvalidResponse,
  OAuthResponseError,
  type AuthorizationServerMetadata,
  type GrantContext,
  type ObtainToken,
  type ProofKey,
  type ResourceFetch,
  type FetchLike,
} from '@keybound/client'

/** Options of {@link connectMcpClient}. */
export interface McpClientOptions {
  /** The DPoP proof key. */
  key: ProofKey
  /** How a token is obtained once the authorization server is known. */
  obtainToken: ObtainToken
  /** The scope to ask for when the server's challenge names none. */
  scope?: string
  /** The `fetch` under the DPoP layer (default `globalThis.fetch`). */
  fetch?: FetchLike
  /** Plain `http:` outside loopback (tests only). */
  allowInsecureHttp?: boolean
}

/** A connected MCP client. */
export interface McpConnection {
  client: Client
  /** The DPoP fetch under the transport (its `tokenClients` show the tokens obtained). */
  fetch: ResourceFetch
  close(): Promise<void>
}

/**
 * Connects an MCP client to a DPoP-protected MCP server over Streamable HTTP.
 *
 * @example
 * ```ts
 * const { client, close } = await connectMcpClient('https://tools.example.com/mcp', {
 *   key: await generateKeyPair('ES256'),
 *   obtainToken: clientCredentialsGrant({
 *     clientId: 'agent',
 *     clientAuth: clientSecretBasic(secret),
 *     issuer: 'https://as.example.com',
 *   }),
 * })
 * console.log(await client.listTools())
 * await close()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export async function connectMcpClient(
  url: string,
  options: McpClientOptions,
): Promise<McpConnection> {
  const resourceFetch = createResourceFetch({
    key: options.key,
    obtainToken: options.obtainToken,
    ...(options.scope === undefined ? {} : { scope: options.scope }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.allowInsecureHttp === undefined
      ? {}
      : { allowInsecureHttp: options.allowInsecureHttp }),
  })
  const client = new Client({ name: 'keybound-mcp-client', version: '0.1.0' }, { capabilities: {} })
  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: resourceFetch })
  await client.connect(transport)
  return {
    client,
    fetch: resourceFetch,
    close: async () => {
      await transport.close()
      await client.close()
    },
  }
}

/** Options of {@link authorizationCodeGrant}. */
export interface AuthorizationCodeGrantOptions {
  /** The registered client id; without one, the client registers itself (RFC 7591). */
  clientId?: string
  /** Where the authorization server sends the user back. */
  redirectUri: string
  /** The name a self-registered client gives itself. */
  clientName?: string
  /**
   * The initial access token an authorization server that protects its registration endpoint
   * hands out to the client's developer; sent as a Bearer token with the registration.
   * @see https://www.rfc-editor.org/rfc/rfc7591#section-3
   */
  initialAccessToken?: string
  /**
   * Takes the user through the authorization URL and resolves with the callback URL (with
   * `code`, `state`, `iss`). In an app this opens a browser and waits for the redirect.
   */
  authorize(authorizationUrl: string): Promise<string>
  /** The `fetch` for registration (default `globalThis.fetch`). */
  fetch?: FetchLike
}

/**
 * The scope to register and to ask for, chosen as the MCP authorization specification says: the
 * scope of the 401 challenge (or the `scope` option), else every scope the resource's metadata
 * lists (RFC 9728 §2 `scopes_supported`), else none. A self-registered client must register the
 * scope it will ask for: an authorization server grants a client only the scope it registered.
 */
function selectScope(context: GrantContext): string | undefined {
  if (context.scope !== undefined) return context.scope
  const supported = context.resourceMetadata.scopes_supported ?? []
  return supported.length === 0 ? undefined : supported.join(' ')
}

function registrationHeaders(options: AuthorizationCodeGrantOptions): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
  }
  if (options.initialAccessToken !== undefined)
    headers.authorization = `Bearer ${options.initialAccessToken}`
  return headers
}

async function registerClient(
  authorizationServer: AuthorizationServerMetadata,
  options: AuthorizationCodeGrantOptions,
  scope: string | undefined,
): Promise<string> {
  const endpoint = authorizationServer.registration_endpoint
  if (typeof endpoint !== 'string')
    throw new InvalidResponse('the authorization server offers no registration_endpoint')
  const callFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const response = await callFetch(endpoint, {
    method: 'POST',
    headers: registrationHeaders(options),
    body: JSON.stringify({
      client_name: options.clientName ?? 'keybound-mcp-client',
      ...(scope === undefined ? {} : { scope }),
      redirect_uris: [options.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      dpop_bound_access_tokens: true,
    }),
  })
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined
  if (!response.ok) {
    throw new OAuthResponseError(
      {
        error: typeof body?.error === 'string' ? body.error : 'registration_failed',
        status: response.status,
      },
      { response },
    )
  }
  if (typeof body?.client_id !== 'string')
    throw new InvalidResponse('the registration response has no client_id', { response })
  return body.client_id
}

/**
 * An {@link ObtainToken} for the authorization-code grant with PKCE and a DPoP-bound code
 * (RFC 9449 §10): it registers the client first when no `clientId` is given (RFC 7591), with
 * the scope it asks for (the challenge's, else the resource's `scopes_supported`), lets
 * `authorize` take the user through the authorization URL, and redeems the code with a proof.
 *
 * @example
 * ```ts
 * const obtainToken = authorizationCodeGrant({
 *   redirectUri: 'http://127.0.0.1:8765/callback',
 *   authorize: (url) => openBrowserAndWaitForRedirect(url),
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10
 */
export function authorizationCodeGrant(options: AuthorizationCodeGrantOptions): ObtainToken {
  return async (context) => {
    const scope = selectScope(context)
    const clientId =
      options.clientId ?? (await registerClient(context.authorizationServer, options, scope))
    const tokens = context.createTokenClient({ clientId })
    const request = await tokens.createAuthorizationRequest({
      redirectUri: options.redirectUri,
      resource: context.resource,
      ...(scope === undefined ? {} : { scope }),
    })
    await tokens.handleCallback(await options.authorize(request.url), request)
    return tokens
  }
}
