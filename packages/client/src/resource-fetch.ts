/**
 * A DPoP fetch that starts from a 401 alone. Given only a key and a way to get a token, it calls
 * a resource; when the answer is a 401 whose challenge names `resource_metadata` (RFC 9728
 * §5.1), it fetches and checks that metadata (§3.3), picks an authorization server from it,
 * discovers that server (RFC 8414), gets a DPoP-bound token (RFC 9449 §5) for the resource
 * (RFC 8707), and sends the request again with it. Every broken step has its own error.
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-5
 * @packageDocumentation
 */
import { invalidArgument } from '@keybound/core/internal'
import type { ClientAuth } from './client-auth.js'
import { discover, type AuthorizationServerMetadata } from './discovery.js'
import { createDPoPFetch, type DPoPFetch, type FetchLike } from './dpop-fetch.js'
import {
  LoginRequired,
  NetworkError,
  NoAuthorizationServer,
  ResourceMetadataInvalid,
  ResourceMismatch,
} from './errors.js'
import type { ProofKey } from './keys.js'
import { assertSecureUrl, parseUrl } from './lib/urls.js'
import { createNonceCache, type NonceCache } from './nonce-cache.js'
import { createTokenClient, type TokenClient } from './token-client.js'
import { parseWwwAuthenticate, type Challenge } from './www-authenticate.js'

/**
 * Protected-resource metadata as the client reads it (RFC 9728 §2; RFC 9449 §5.1 members).
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export interface ResourceMetadata {
  resource: string
  authorization_servers: string[]
  scopes_supported?: string[]
  bearer_methods_supported?: string[]
  dpop_signing_alg_values_supported?: string[]
  dpop_bound_access_tokens_required?: boolean
  [member: string]: unknown
}

/** What a grant callback is given to get a token for the resource. */
export interface GrantContext {
  /** The checked protected-resource metadata. */
  readonly resourceMetadata: ResourceMetadata
  /** The discovered metadata of the chosen authorization server. */
  readonly authorizationServer: AuthorizationServerMetadata
  /** The resource identifier, to send as the RFC 8707 `resource` parameter. */
  readonly resource: string
  /** The scope to ask for: the challenge's `scope`, else the `scope` option. */
  readonly scope?: string
  /**
   * A token client for the chosen authorization server that signs with this fetch's key and
   * shares its `fetch` and nonce cache.
   */
  createTokenClient(options: { clientId: string; clientAuth?: ClientAuth }): TokenClient
}

/**
 * Gets a token for a resource: returns a token client that holds one (its `getAccessToken`
 * is then asked before every request to that resource). `issuers`, when set, are the only
 * authorization servers it may be used with; the fetch then picks the first of them that the
 * metadata lists.
 */
export type ObtainToken = ((context: GrantContext) => Promise<TokenClient>) & {
  readonly issuers?: readonly string[]
}

/** Options of {@link createResourceFetch}. */
export interface ResourceFetchOptions {
  /** The proof key for token requests and resource requests alike. */
  key: ProofKey
  /**
   * How to get a token once the authorization server is known: a grant callback, or the
   * `client_credentials` grant through {@link clientCredentialsGrant}.
   */
  obtainToken: ObtainToken
  /**
   * Which authorization server to use among those the metadata lists (default: the first one
   * `obtainToken.issuers` allows, or the first listed). Return `undefined` to refuse them all.
   */
  chooseAuthorizationServer?: (issuers: readonly string[]) => string | undefined
  /** The scope to ask for when the challenge names none. */
  scope?: string
  /**
   * Require the metadata's `resource` to be exactly the requested URL (RFC 9728 §3.3 as
   * written). Default `false`: a same-origin path prefix on a segment boundary is also
   * accepted (see ADR 0035).
   */
  strictResourceMatch?: boolean
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: FetchLike
  /** Nonce cache for the resource and the authorization server (default: a private one). */
  nonces?: NonceCache
  /** Allow plain `http:` to hosts that are not loopback (tests only). */
  allowInsecureHttp?: boolean
  /** Largest metadata document read (default 65,536 bytes). */
  maxMetadataBytes?: number
}

/** A fetch that finds its own tokens; `tokenClients` shows which resources it has tokens for. */
export interface ResourceFetch extends DPoPFetch {
  /** The token client per resource identifier, once a token was obtained for it. */
  readonly tokenClients: ReadonlyMap<string, TokenClient>
}

const DEFAULT_MAX_METADATA_BYTES = 65_536

function requestUrlOf(input: string | URL | Request): string {
  if (typeof input === 'string') return input
  if (input instanceof URL) return input.href
  return input.url
}

/** Query and fragment are not part of a resource's identity (RFC 9728 §1.2). */
function withoutQuery(url: URL): string {
  return `${url.origin}${url.pathname}`
}

/**
 * Whether `resource` covers `requested`: equal, or (unless strict) the same origin with a
 * path that is a prefix of the requested one on a segment boundary.
 */
function resourceCovers(resource: URL, requested: URL, strict: boolean): boolean {
  const wanted = withoutQuery(requested)
  const own = withoutQuery(resource)
  if (own === wanted || own.replace(/\/$/, '') === wanted.replace(/\/$/, '')) return true
  if (strict || resource.origin !== requested.origin || resource.search !== '') return false
  const prefix = resource.pathname.replace(/\/$/, '')
  return prefix === '' || requested.pathname.startsWith(`${prefix}/`)
}

function stringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

/** The `resource_metadata` URL and scope of a 401, or `undefined` when it names none. */
function readChallenges(
  challenges: readonly Challenge[],
): { metadataUrl: string; scope?: string } | undefined {
  // DPoP first: a server that offers both may put different hints on each.
  const ordered = [...challenges].sort(
    (a, b) => Number(b.scheme.toLowerCase() === 'dpop') - Number(a.scheme.toLowerCase() === 'dpop'),
  )
  const named = ordered.find((challenge) => challenge.params.resource_metadata !== undefined)
  if (named === undefined) return undefined
  const scope = named.params.scope
  return {
    metadataUrl: named.params.resource_metadata!,
    ...(scope === undefined || scope === '' ? {} : { scope }),
  }
}

function tooLarge(response: Response): ResourceMetadataInvalid {
  return new ResourceMetadataInvalid('protected-resource metadata is too large', {
    response,
    reason: 'size',
  })
}

/** The body as text, reading at most `limit` bytes: a larger one is cut off, never buffered. */
async function readCappedText(response: Response, limit: number): Promise<string> {
  if (Number(response.headers.get('content-length') ?? '0') > limit) {
    response.body?.cancel().catch(() => {})
    throw tooLarge(response)
  }
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (let read = await reader.read(); read.done !== true; read = await reader.read()) {
    size += read.value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge(response)
    }
    chunks.push(read.value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(bytes)
}

async function readLimitedJson(response: Response, limit: number): Promise<unknown> {
  const text = await readCappedText(response, limit)
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new ResourceMetadataInvalid('protected-resource metadata is not JSON', {
      cause,
      response,
      reason: 'json',
    })
  }
}

function checkMetadataShape(body: unknown, response: Response): ResourceMetadata {
  const fail = (message: string, reason: string): never => {
    throw new ResourceMetadataInvalid(message, { response, reason })
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail('protected-resource metadata is not a JSON object', 'json')
  const metadata = body as Record<string, unknown>
  if (typeof metadata.resource !== 'string' || metadata.resource === '')
    return fail('protected-resource metadata has no "resource"', 'resource')
  if (!stringList(metadata.authorization_servers) || metadata.authorization_servers.length === 0)
    return fail(
      'protected-resource metadata names no "authorization_servers"',
      'authorization_servers',
    )
  for (const member of ['scopes_supported', 'dpop_signing_alg_values_supported'] as const) {
    if (metadata[member] !== undefined && !stringList(metadata[member]))
      return fail(`protected-resource metadata "${member}" is not a list of strings`, member)
  }
  return metadata as ResourceMetadata
}

/**
 * Fetches and checks the protected-resource metadata at `metadataUrl` for a request to
 * `requestedUrl`: a JSON object whose `resource` covers the requested URL (RFC 9728 §3.3;
 * see `strictResourceMatch`) and that names at least one authorization server.
 *
 * @example
 * ```ts
 * const metadata = await fetchResourceMetadata(
 *   'https://api.example.com/.well-known/oauth-protected-resource/mcp',
 *   'https://api.example.com/mcp',
 * )
 * console.log(metadata.authorization_servers)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.3
 */
export async function fetchResourceMetadata(
  metadataUrl: string,
  requestedUrl: string,
  options: Pick<
    ResourceFetchOptions,
    'fetch' | 'allowInsecureHttp' | 'strictResourceMatch' | 'maxMetadataBytes'
  > = {},
): Promise<ResourceMetadata> {
  const url = parseUrl(metadataUrl, 'resource_metadata')
  assertSecureUrl(url, options.allowInsecureHttp ?? false)
  const requested = parseUrl(requestedUrl, 'request URL')
  const callFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  let response: Response
  try {
    response = await callFetch(url.href, { headers: { accept: 'application/json' } })
  } catch (cause) {
    throw new NetworkError(`protected-resource metadata request to ${url.origin} failed`, {
      cause,
    })
  }
  if (response.status !== 200) {
    response.body?.cancel().catch(() => {})
    throw new ResourceMetadataInvalid(
      `protected-resource metadata answered HTTP ${response.status}`,
      { response, reason: 'status' },
    )
  }
  const body = await readLimitedJson(
    response,
    options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES,
  )
  const metadata = checkMetadataShape(body, response)
  let resource: URL
  try {
    resource = new URL(metadata.resource)
  } catch {
    throw new ResourceMismatch('protected-resource metadata "resource" is not a URL', {
      response,
      reason: 'resource',
    })
  }
  // RFC 9728 §3.3: metadata about another resource must not be used for this one.
  if (!resourceCovers(resource, requested, options.strictResourceMatch === true)) {
    throw new ResourceMismatch(
      `protected-resource metadata is about ${metadata.resource}, not ${withoutQuery(requested)}`,
      { response, reason: 'resource' },
    )
  }
  return metadata
}

/** Options of {@link clientCredentialsGrant}. */
export interface ClientCredentialsGrantOptions {
  clientId: string
  /** Client authentication (default `none()`). */
  clientAuth?: ClientAuth
  /**
   * The authorization server(s) these credentials belong to. Required when `clientAuth`
   * authenticates (anything but `none`): the resource's metadata must never decide where a
   * client secret or assertion is sent (D25).
   */
  issuer?: string | readonly string[]
  /** Send the RFC 8707 `resource` parameter (default `true`). */
  sendResource?: boolean
}

function issuersOf(options: ClientCredentialsGrantOptions): readonly string[] | undefined {
  if (options.issuer === undefined) return undefined
  const issuers = [options.issuer].flat()
  if (
    issuers.length === 0 ||
    !issuers.every((issuer) => typeof issuer === 'string' && issuer !== '')
  )
    throw invalidArgument('issuer', 'one or more issuer identifiers')
  return Object.freeze(issuers)
}

/**
 * An {@link ObtainToken} for the `client_credentials` grant (RFC 6749 §4.4) with a DPoP proof,
 * for the resource named by the metadata (RFC 8707 `resource`). With client authentication,
 * `issuer` names the authorization server the credentials belong to, and any other one is
 * refused with `NoAuthorizationServer` before a request is sent to it.
 *
 * @example
 * ```ts
 * const api = createResourceFetch({
 *   key,
 *   obtainToken: clientCredentialsGrant({
 *     clientId: 'worker',
 *     clientAuth: clientSecretBasic(secret),
 *     issuer: 'https://as.example.com',
 *   }),
 * })
 * await api('https://api.example.com/items')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export function clientCredentialsGrant(options: ClientCredentialsGrantOptions): ObtainToken {
  if (typeof options?.clientId !== 'string' || options.clientId === '')
    throw invalidArgument('clientId', 'a non-empty string')
  const issuers = issuersOf(options)
  if (
    issuers === undefined &&
    options.clientAuth !== undefined &&
    options.clientAuth.method !== 'none'
  )
    throw invalidArgument(
      'issuer',
      'set with client authentication: the authorization server the credentials belong to',
    )
  const obtain = async (context: GrantContext): Promise<TokenClient> => {
    if (issuers !== undefined && !issuers.includes(context.authorizationServer.issuer)) {
      throw new NoAuthorizationServer(
        `the client credentials do not belong to ${context.authorizationServer.issuer}`,
      )
    }
    const tokens = context.createTokenClient({
      clientId: options.clientId,
      ...(options.clientAuth === undefined ? {} : { clientAuth: options.clientAuth }),
    })
    await tokens.clientCredentials({
      ...(context.scope === undefined ? {} : { scope: context.scope }),
      ...(options.sendResource === false ? {} : { resource: context.resource }),
    })
    return tokens
  }
  return issuers === undefined ? obtain : Object.assign(obtain, { issuers })
}

function checkOptions(options: ResourceFetchOptions): void {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  if (typeof options.key !== 'object' || options.key === null)
    throw invalidArgument('key', 'a DPoP key pair or a proof signer')
  if (typeof options.obtainToken !== 'function') throw invalidArgument('obtainToken', 'a function')
  if (
    options.chooseAuthorizationServer !== undefined &&
    typeof options.chooseAuthorizationServer !== 'function'
  )
    throw invalidArgument('chooseAuthorizationServer', 'a function')
}

/** The request, with its body read once so it can be sent again after the token is in. */
async function replayable(
  input: string | URL | Request,
  init: RequestInit | undefined,
): Promise<{ input: string | URL; init: RequestInit }> {
  if (typeof Request !== 'undefined' && input instanceof Request) {
    const body = input.body === null ? undefined : new Uint8Array(await input.clone().arrayBuffer())
    return {
      input: input.url,
      init: {
        method: input.method,
        headers: input.headers,
        signal: input.signal,
        ...init,
        ...(body === undefined || init?.body !== undefined ? {} : { body }),
      },
    }
  }
  const body = init?.body
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) {
    return {
      input: input as string | URL,
      init: { ...init, body: new Uint8Array(await new Response(body).arrayBuffer()) },
    }
  }
  return { input: input as string | URL, init: { ...init } }
}

/**
 * Creates a `fetch` for protected resources that needs no configuration about them: on a
 * 401 whose challenge names `resource_metadata`, it reads the metadata, checks that it is
 * about the requested URL, discovers the authorization server, gets a DPoP-bound token with
 * `obtainToken`, and sends the request once more. Later requests to the same resource reuse
 * the token (refreshed by its token client).
 *
 * Errors: `ResourceMetadataInvalid` (metadata unreachable, not JSON, members missing),
 * `ResourceMismatch` (metadata about another resource), `NoAuthorizationServer` (none
 * chosen), `DiscoveryFailed` / `IssuerMismatch` (RFC 8414), `InvalidArgument` (the
 * server cannot verify this key's `alg`), and the token client's own errors for the grant.
 * A 401 without `resource_metadata`, or after the retry, is returned as it is.
 *
 * @example
 * ```ts
 * const mcp = createResourceFetch({
 *   key: await generateKeyPair('ES256'),
 *   obtainToken: clientCredentialsGrant({
 *     clientId: 'agent',
 *     clientAuth: clientSecretBasic(secret),
 *     issuer: 'https://as.example.com',
 *   }),
 * })
 * const response = await mcp('https://tools.example.com/mcp', { method: 'POST', body })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-5
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function createResourceFetch(options: ResourceFetchOptions): ResourceFetch {
  checkOptions(options)
  const allowInsecureHttp = options.allowInsecureHttp ?? false
  const nonces = options.nonces ?? createNonceCache()
  const callFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const tokenClients = new Map<string, TokenClient>()
  const covering = new Map<string, URL>()
  // One discovery per metadata URL at a time: concurrent first requests wait for the same token.
  const inFlight = new Map<string, Promise<void>>()
  const sharedFetch = { fetch: callFetch, nonces, allowInsecureHttp }
  const dpopFetch = createDPoPFetch({ ...sharedFetch, key: options.key })

  function resourceFor(url: URL): string | undefined {
    for (const [resource, resourceUrl] of covering) {
      if (resourceCovers(resourceUrl, url, options.strictResourceMatch === true)) return resource
    }
    return undefined
  }

  /**
   * The token for `url`, when one is held. A token client that can no longer produce one (the
   * token expired and there is no refresh token, as with client credentials) is dropped, so
   * the request goes without a token and its 401 obtains a new one.
   */
  async function tokenFor(url: URL): Promise<string | undefined> {
    const resource = resourceFor(url)
    if (resource === undefined) return undefined
    try {
      return await tokenClients.get(resource)!.getAccessToken()
    } catch (error) {
      if (!(error instanceof LoginRequired)) throw error
      tokenClients.delete(resource)
      covering.delete(resource)
      return undefined
    }
  }

  function chooseIssuer(metadata: ResourceMetadata, response: Response): string {
    const issuers = metadata.authorization_servers
    const allowed = options.obtainToken.issuers
    const chosen =
      options.chooseAuthorizationServer !== undefined
        ? options.chooseAuthorizationServer(issuers)
        : allowed === undefined
          ? issuers[0]
          : issuers.find((issuer) => allowed.includes(issuer))
    if (chosen === undefined || !issuers.includes(chosen)) {
      throw new NoAuthorizationServer(
        'none of the authorization servers the resource names was chosen',
        { response },
      )
    }
    return chosen
  }

  async function obtainFor(
    requested: URL,
    challenge: { metadataUrl: string; scope?: string },
    response: Response,
  ): Promise<void> {
    const resourceMetadata = await fetchResourceMetadata(challenge.metadataUrl, requested.href, {
      ...options,
      fetch: callFetch,
    })
    const supported = resourceMetadata.dpop_signing_alg_values_supported
    if (supported !== undefined && !supported.includes(options.key.alg)) {
      throw invalidArgument(
        'key',
        `of an "alg" the resource accepts for DPoP proofs (${supported.join(', ')}), not ${options.key.alg}`,
      )
    }
    const issuer = chooseIssuer(resourceMetadata, response)
    const authorizationServer = await discover(issuer, { fetch: callFetch, allowInsecureHttp })
    const scope = challenge.scope ?? options.scope
    const tokens = await options.obtainToken({
      resourceMetadata,
      authorizationServer,
      resource: resourceMetadata.resource,
      ...(scope === undefined ? {} : { scope }),
      createTokenClient: (client) =>
        createTokenClient({
          ...sharedFetch,
          ...client,
          metadata: authorizationServer,
          key: options.key,
        }),
    })
    if (typeof tokens?.getAccessToken !== 'function')
      throw invalidArgument('obtainToken', 'a function that resolves with a token client')
    tokenClients.set(resourceMetadata.resource, tokens)
    covering.set(resourceMetadata.resource, new URL(resourceMetadata.resource))
  }

  /**
   * Sends with the resource's token when one is known (the DPoP fetch then adds `ath` for it);
   * without one, the request carries a proof and no token, and a 401 starts discovery.
   */
  async function send(
    input: string | URL,
    init: RequestInit,
    token: string | undefined,
  ): Promise<Response> {
    if (token === undefined) return dpopFetch(input, init)
    const headers = new Headers(init.headers)
    headers.set('authorization', `DPoP ${token}`)
    return dpopFetch(input, { ...init, headers })
  }

  function obtainOnce(
    requested: URL,
    challenge: { metadataUrl: string; scope?: string },
    response: Response,
  ): Promise<void> {
    const running = inFlight.get(challenge.metadataUrl)
    if (running !== undefined) return running
    const started = obtainFor(requested, challenge, response).finally(() =>
      inFlight.delete(challenge.metadataUrl),
    )
    inFlight.set(challenge.metadataUrl, started)
    return started
  }

  const resourceFetch = async function resourceFetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const request = await replayable(input, init)
    const url = parseUrl(requestUrlOf(input), 'request URL')
    assertSecureUrl(url, allowInsecureHttp)
    const token = await tokenFor(url)
    const first = await send(request.input, request.init, token)
    if (first.status !== 401 || token !== undefined) return first
    const challenge = readChallenges(parseWwwAuthenticate(first.headers))
    if (challenge === undefined) return first
    first.body?.cancel().catch(() => {})
    await obtainOnce(url, challenge, first)
    return send(request.input, request.init, await tokenFor(url))
  } as ResourceFetch
  Object.defineProperty(resourceFetch, 'tokenClients', { value: tokenClients, enumerable: true })
  return resourceFetch
}
