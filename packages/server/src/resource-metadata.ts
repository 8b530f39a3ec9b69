/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): the JSON document a resource server
 * publishes at `/.well-known/oauth-protected-resource` (or the path-suffixed form for a
 * resource with a path), so a client that only knows the resource's URL can find the
 * authorization servers it trusts and how it wants DPoP proofs (RFC 9449 §5.1 members).
 * The builder validates everything up front; adapters only route to {@link ProtectedResourceMetadata.answer}.
 * @see https://www.rfc-editor.org/rfc/rfc9728
 * @packageDocumentation
 */
import { InvalidArgument } from '@keybound/core'
import {
  invalidArgument,
  isLoopbackHost,
  NQCHAR_TOKEN,
  SUPPORTED_ALGORITHMS,
} from '@keybound/core/internal'

/** The RFC 9728 §2 `bearer_methods_supported` values (RFC 6750 §2.1–§2.3). */
export type BearerMethod = 'header' | 'body' | 'query'

/**
 * What to publish. Only `resource` and `authorizationServers` are required; the DPoP members
 * default to what a DPoP-only Keybound resource server does.
 *
 * @example
 * ```ts
 * const options: ProtectedResourceMetadataOptions = {
 *   resource: 'https://api.example.com/mcp',
 *   authorizationServers: ['https://as.example.com'],
 *   scopesSupported: ['tools:read'],
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export interface ProtectedResourceMetadataOptions {
  /** The resource identifier: an `https` URL without a fragment (RFC 9728 §1.2). */
  resource: string
  /** Issuer identifiers of the authorization servers whose tokens are accepted (RFC 8414 §2). */
  authorizationServers: readonly string[]
  /** Scopes a client may request for this resource (RFC 6749 §3.3 scope tokens). */
  scopesSupported?: readonly string[]
  /**
   * How a token may be sent (default `['header']`). DPoP tokens always go in the
   * `Authorization` header (RFC 9449 §7.1); `[]` says no Bearer method is accepted at all.
   */
  bearerMethodsSupported?: readonly BearerMethod[]
  /**
   * Proof algorithms accepted (default: every one Keybound verifies, which is also the resource
   * server's default; pass `resourceServer.algorithms` when you narrowed them).
   */
  dpopSigningAlgValuesSupported?: readonly string[]
  /**
   * Whether only DPoP-bound tokens are accepted (default `true`; RFC 9449 §5.1). Set `false`
   * when the resource server runs with `allowBearer`.
   */
  dpopBoundAccessTokensRequired?: boolean
  /** A human-readable name (RFC 9728 §2 `resource_name`). */
  resourceName?: string
  /** A page with developer documentation (RFC 9728 §2 `resource_documentation`). */
  resourceDocumentation?: string
  /** Accept `http:` URLs outside loopback (never in production; RFC 9728 §7.1). */
  allowInsecureHttp?: boolean
}

/**
 * The JSON document, with the member names of RFC 9728 §2 and RFC 9449 §5.1.
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export interface ProtectedResourceMetadataDocument {
  readonly resource: string
  readonly authorization_servers: readonly string[]
  readonly scopes_supported?: readonly string[]
  readonly bearer_methods_supported: readonly BearerMethod[]
  readonly dpop_signing_alg_values_supported: readonly string[]
  readonly dpop_bound_access_tokens_required: boolean
  readonly resource_name?: string
  readonly resource_documentation?: string
}

/** An HTTP answer, framework-neutral: adapters copy it onto their response. */
export interface MetadataAnswer {
  status: 200 | 405
  headers: Record<string, string>
  /** The JSON text (empty for HEAD and 405). */
  body: string
}

/**
 * A built metadata document and where it is served. Pass `url` to `createResourceServer` as
 * `resourceMetadataUrl` so challenges point at it (RFC 9728 §5.1).
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3
 */
export interface ProtectedResourceMetadata {
  /** The document, frozen. */
  readonly document: ProtectedResourceMetadataDocument
  /** Where the document is served: the `resource_metadata` value for challenges. */
  readonly url: string
  /** The path part of `url`, for routing (`/.well-known/oauth-protected-resource/mcp`). */
  readonly path: string
  /**
   * The answer for a request to `path` (the caller routes): 200 with the JSON for GET and
   * HEAD, 405 with `Allow` for any other method. CORS is open (`*`): the document is public.
   */
  answer(method: string): MetadataAnswer
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource'
const BEARER_METHODS: readonly string[] = ['header', 'body', 'query']
// Printable ASCII without quotes or backslashes: the URL goes into a quoted auth-param.
const QUOTABLE = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** Collects every problem of one options object, each named by its path. */
class Problems {
  readonly list: string[] = []
  add(path: string, message: string): void {
    this.list.push(`${path} ${message}`)
  }
}

function checkUrl(
  problems: Problems,
  value: unknown,
  path: string,
  allowInsecureHttp: boolean,
  allowQuery: boolean,
): URL | undefined {
  if (typeof value !== 'string' || value === '') {
    problems.add(path, 'must be a non-empty string')
    return undefined
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    problems.add(path, 'must be an absolute URL')
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.add(path, 'must be an https URL')
    return undefined
  }
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    problems.add(path, 'must use https outside loopback (RFC 9728 §7.1)')
  }
  if (url.hash !== '' || value.includes('#')) problems.add(path, 'must not have a fragment')
  if (!allowQuery && url.search !== '') problems.add(path, 'must not have a query')
  if (url.username !== '' || url.password !== '') problems.add(path, 'must not have user info')
  if (!QUOTABLE.test(value)) problems.add(path, 'must be printable ASCII without quotes')
  return url
}

function checkStringList(
  problems: Problems,
  value: unknown,
  path: string,
  item: (entry: unknown, itemPath: string) => void,
): void {
  if (!Array.isArray(value)) {
    problems.add(path, 'must be an array')
    return
  }
  value.forEach((entry, index) => item(entry, `${path}[${index}]`))
}

/**
 * The URL where the metadata of `resource` is served (RFC 9728 §3.1): the well-known segment
 * goes between the host and the resource's path (a terminating `/` after the host removed),
 * so `https://api.example.com/mcp` gives
 * `https://api.example.com/.well-known/oauth-protected-resource/mcp`.
 *
 * @example
 * ```ts
 * resourceMetadataUrlOf('https://api.example.com') // 'https://api.example.com/.well-known/oauth-protected-resource'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.1
 */
export function resourceMetadataUrlOf(resource: string): string {
  const url = new URL(resource)
  const path = url.pathname === '/' ? '' : url.pathname
  return `${url.origin}${WELL_KNOWN}${path}${url.search}`
}

function checkOptions(
  options: ProtectedResourceMetadataOptions,
  problems: Problems,
): ProtectedResourceMetadataDocument | undefined {
  const insecure = options.allowInsecureHttp === true
  checkUrl(problems, options.resource, 'resource', insecure, true)
  checkStringList(problems, options.authorizationServers, 'authorizationServers', (entry, at) =>
    checkUrl(problems, entry, at, insecure, false),
  )
  if (Array.isArray(options.authorizationServers) && options.authorizationServers.length === 0)
    problems.add('authorizationServers', 'must name at least one authorization server')
  if (options.scopesSupported !== undefined)
    checkStringList(problems, options.scopesSupported, 'scopesSupported', (entry, at) => {
      if (typeof entry !== 'string' || !NQCHAR_TOKEN.test(entry))
        problems.add(at, 'must be an RFC 6749 scope token')
    })
  const bearerMethods = options.bearerMethodsSupported ?? ['header']
  checkStringList(problems, bearerMethods, 'bearerMethodsSupported', (entry, at) => {
    if (typeof entry !== 'string' || !BEARER_METHODS.includes(entry))
      problems.add(at, 'must be "header", "body" or "query"')
  })
  const algorithms = options.dpopSigningAlgValuesSupported ?? SUPPORTED_ALGORITHMS
  checkStringList(problems, algorithms, 'dpopSigningAlgValuesSupported', (entry, at) => {
    if (!(SUPPORTED_ALGORITHMS as readonly unknown[]).includes(entry))
      problems.add(at, 'is not a proof algorithm Keybound verifies')
  })
  if (Array.isArray(algorithms) && algorithms.length === 0)
    problems.add('dpopSigningAlgValuesSupported', 'must not be empty')
  const required = options.dpopBoundAccessTokensRequired ?? true
  if (typeof required !== 'boolean')
    problems.add('dpopBoundAccessTokensRequired', 'must be true or false')
  if (options.resourceName !== undefined && typeof options.resourceName !== 'string')
    problems.add('resourceName', 'must be a string')
  if (options.resourceDocumentation !== undefined)
    checkUrl(problems, options.resourceDocumentation, 'resourceDocumentation', insecure, true)
  if (problems.list.length > 0) return undefined
  return Object.freeze({
    resource: options.resource,
    authorization_servers: Object.freeze([...options.authorizationServers]),
    ...(options.scopesSupported === undefined
      ? {}
      : { scopes_supported: Object.freeze([...options.scopesSupported]) }),
    bearer_methods_supported: Object.freeze([...bearerMethods]),
    dpop_signing_alg_values_supported: Object.freeze([...algorithms]),
    dpop_bound_access_tokens_required: required,
    ...(options.resourceName === undefined ? {} : { resource_name: options.resourceName }),
    ...(options.resourceDocumentation === undefined
      ? {}
      : { resource_documentation: options.resourceDocumentation }),
  })
}

function answerWith(body: string): (method: string) => MetadataAnswer {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    // Public, and read by browser clients on other origins (RFC 9728 §3.2 has no CORS rule).
    'Access-Control-Allow-Origin': '*',
    'Cache-Control': 'max-age=300',
  }
  return (method): MetadataAnswer => {
    if (method === 'GET') return { status: 200, headers: { ...headers }, body }
    if (method === 'HEAD') return { status: 200, headers: { ...headers }, body: '' }
    return { status: 405, headers: { Allow: 'GET, HEAD' }, body: '' }
  }
}

/**
 * Builds the protected-resource metadata of one resource. Every bad option is reported at
 * once, each by its path, in one `InvalidArgument` thrown here (never per request).
 *
 * @example
 * ```ts
 * import { createProtectedResourceMetadata, createResourceServer } from '@keybound/server'
 *
 * const metadata = createProtectedResourceMetadata({
 *   resource: 'https://api.example.com',
 *   authorizationServers: ['https://as.example.com'],
 * })
 * const resourceServer = createResourceServer({
 *   publicBaseUrl: 'https://api.example.com',
 *   accessTokens,
 *   resourceMetadataUrl: metadata.url,
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5.1
 */
export function createProtectedResourceMetadata(
  options: ProtectedResourceMetadataOptions,
): ProtectedResourceMetadata {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  const problems = new Problems()
  const document = checkOptions(options, problems)
  // Free wording: several members may be at fault, and each problem names its own.
  if (document === undefined)
    throw new InvalidArgument(`protected-resource metadata: ${problems.list.join('; ')}`)
  const url = resourceMetadataUrlOf(document.resource)
  return Object.freeze({
    document,
    url,
    path: new URL(url).pathname,
    answer: answerWith(JSON.stringify(document)),
  })
}

/**
 * Whether a request target (origin-form or absolute) is the metadata document's path. Only
 * the path counts; a query is ignored.
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.1
 */
export function isMetadataRequest(metadata: ProtectedResourceMetadata, target: string): boolean {
  const path = target.startsWith('/') ? target : safePathOf(target)
  return path !== undefined && path.split('?', 1)[0] === metadata.path
}

function safePathOf(target: string): string | undefined {
  try {
    return new URL(target).pathname
  } catch {
    return undefined
  }
}

function checkMetadata(metadata: ProtectedResourceMetadata): void {
  if (typeof metadata?.answer !== 'function' || typeof metadata.path !== 'string')
    throw invalidArgument(
      'metadata',
      'a ProtectedResourceMetadata from createProtectedResourceMetadata',
    )
}

export { checkMetadata }

/**
 * Checks a `resource_metadata` URL for the challenges when the resource server is built.
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-5.1
 */
export function checkResourceMetadataUrl(value: unknown, allowInsecureHttp: boolean): string {
  const problems = new Problems()
  checkUrl(problems, value, 'resourceMetadataUrl', allowInsecureHttp, true)
  if (problems.list.length > 0)
    throw new InvalidArgument(problems.list.join('; '), {
      details: { argument: 'resourceMetadataUrl' },
    })
  return value as string
}
