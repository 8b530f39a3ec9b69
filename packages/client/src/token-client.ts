/**
 * The token client: DPoP-bound tokens from an authorization server with `client_credentials`,
 * `authorization_code` (PKCE S256, `dpop_jkt`, PAR, RFC 9207 `iss` check) and `refresh_token`,
 * refreshed automatically before they expire, always with the same proof key (RFC 9449 §5).
 * It is a small stateful handle: it holds the current tokens and nothing else.
 * @packageDocumentation
 */
import { invalidArgument } from '@keybound/core/internal'
import { none, type ClientAuth } from './client-auth.js'
import type { AuthorizationServerMetadata } from './discovery.js'
import {
  createDPoPFetch,
  isNonceChallenge,
  type DPoPFetch,
  type DPoPFetchOptions,
  type FetchLike,
} from './dpop-fetch.js'
import {
  InvalidResponse,
  IssuerMismatch,
  LoginRequired,
  NonceLoop,
  OAuthResponseError,
  StateMismatch,
  TokenTypeMismatch,
} from './errors.js'
import { randomBase64url, sha256Base64url } from './lib/base64url.js'
import { assertSecureUrl, parseUrl } from './lib/urls.js'
import { getJkt, type ProofKey } from './keys.js'
import { createNonceCache, type NonceCache } from './nonce-cache.js'

/**
 * Tokens from a token response (RFC 6749 §5.1). `expiresAt` is in epoch milliseconds.
 *
 * There is no ID token: an `id_token` in the response is dropped, because this client does
 * not validate ID tokens (OpenID Connect Core §3.1.3.7) and an unvalidated one must not be
 * used to decide who the user is (D27, docs/adr/0038). Sign users in with an OpenID Connect
 * library such as openid-client, which can also use DPoP.
 *
 * @example
 * ```ts
 * const set: TokenSet = await tokens.clientCredentials({ scope: 'api:read' })
 * console.log(set.tokenType, set.expiresAt)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export interface TokenSet {
  readonly accessToken: string
  /** Always `DPoP`: other token types are refused (RFC 9449 §5). */
  readonly tokenType: 'DPoP'
  readonly expiresAt?: number
  readonly refreshToken?: string
  readonly scope?: string
}

/** Options of {@link createTokenClient}. */
export interface TokenClientOptions {
  /** Authorization server metadata, e.g. from `discover()`. */
  metadata: AuthorizationServerMetadata
  clientId: string
  /** Client authentication (default `none()`, a public client). */
  clientAuth?: ClientAuth
  /** The proof key every token request, and the refreshes, are signed with. */
  key: ProofKey
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: FetchLike
  /** Nonce cache, shared with the fetches made by `createFetch` (default: a private one). */
  nonces?: NonceCache
  /** Refresh this many seconds before the access token expires (default 30). */
  refreshSkew?: number
  /** Allow plain `http:` to hosts that are not loopback (tests only). */
  allowInsecureHttp?: boolean
  /** Current time in milliseconds (default `Date.now`). */
  now?: () => number
}

/** Common parameters of a token request. */
export interface GrantParameters {
  scope?: string
  /** RFC 8707 resource indicator(s). */
  resource?: string | readonly string[]
  /** Additional request parameters. */
  extra?: Record<string, string>
}

/**
 * RFC 8693 §3: an OAuth 2.0 access token, the default subject and actor token type of
 * {@link TokenClient.exchangeToken}.
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-3
 */
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
/**
 * RFC 8693 §3: a JWT (the issued token may be read by the recipient).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-3
 */
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt'

/**
 * Options of {@link TokenClient.exchangeToken} (RFC 8693 §2.1 request parameters).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export interface TokenExchangeOptions {
  /** The token to exchange, e.g. the access token this service received. */
  subjectToken: string
  /** Its type (default `urn:ietf:params:oauth:token-type:access_token`). */
  subjectTokenType?: string
  /** A token naming the acting party; the server decides what it accepts. */
  actorToken?: string
  /** Required with `actorToken` (default access_token when `actorToken` is set). */
  actorTokenType?: string
  /** The type to issue (default: the server's choice, an access token). */
  requestedTokenType?: string
  /** Logical name(s) of the target service (RFC 8693 `audience`). */
  audience?: string | readonly string[]
  /** Scope of the new token; at most the subject token's. */
  scope?: string
  /** RFC 8707 resource indicator(s) of the target service. */
  resource?: string | readonly string[]
  /** Additional request parameters. */
  extra?: Record<string, string>
}

/**
 * The result of a token exchange: a DPoP token set plus `issued_token_type` (RFC 8693 §2.2.1).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1
 */
export interface ExchangedTokenSet extends TokenSet {
  readonly issuedTokenType: string
}

/** Options of {@link TokenClient.createAuthorizationRequest}. */
export interface AuthorizationRequestOptions extends GrantParameters {
  redirectUri: string
  /** Push the request first (RFC 9126). Default: when the server has a PAR endpoint. */
  par?: boolean
  /** Send `dpop_jkt` (RFC 9449 §10). Default `true` (with PAR the DPoP header binds instead). */
  dpopJkt?: boolean
}

/**
 * What the callback needs later: keep it (e.g. in `sessionStorage`) until the user comes back.
 * It holds the PKCE verifier, so treat it as a secret.
 */
export interface AuthorizationRequest {
  /** Where to send the user. */
  readonly url: string
  readonly state: string
  readonly codeVerifier: string
  readonly redirectUri: string
}

/** The token client handle. */
export interface TokenClient {
  /** The current tokens, if any. */
  readonly tokens: TokenSet | undefined
  /** The RFC 7638 thumbprint of the proof key; tokens are bound to it (`cnf.jkt`). */
  jkt(): Promise<string>
  /** `client_credentials` grant (RFC 6749 §4.4) with a DPoP proof. */
  clientCredentials(parameters?: GrantParameters): Promise<TokenSet>
  /** Builds the authorization URL (PKCE S256, `state`, `dpop_jkt`; pushed first when PAR is on). */
  createAuthorizationRequest(options: AuthorizationRequestOptions): Promise<AuthorizationRequest>
  /** Checks the callback (`iss`, `state`, `error`) and redeems the code with a DPoP proof. */
  handleCallback(
    callback: string | URL | URLSearchParams,
    request: AuthorizationRequest,
  ): Promise<TokenSet>
  /** `refresh_token` grant with the same key (RFC 9449 §5). */
  refresh(parameters?: GrantParameters): Promise<TokenSet>
  /**
   * Token exchange (RFC 8693 §2.1) with a DPoP proof: the new token is bound to this client's
   * key. It is returned, not kept: it is for another audience than the client's own tokens.
   */
  exchangeToken(options: TokenExchangeOptions): Promise<ExchangedTokenSet>
  /** A valid access token: refreshed first when it expires within `refreshSkew`. */
  getAccessToken(): Promise<string>
  /** Replaces the held tokens (e.g. a refresh token restored from storage), or clears them. */
  setTokens(tokens: TokenSet | undefined): void
  /** A DPoP fetch for resource servers that sends this client's access token. */
  createFetch(options?: Omit<DPoPFetchOptions, 'key' | 'accessToken'>): DPoPFetch
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  let body: unknown
  try {
    body = JSON.parse(await response.text())
  } catch (cause) {
    throw new InvalidResponse(`response (HTTP ${response.status}) is not JSON`, { cause, response })
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidResponse(`response (HTTP ${response.status}) is not a JSON object`, {
      response,
    })
  }
  return body as Record<string, unknown>
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function oauthError(
  body: Record<string, unknown>,
  response: Response,
): OAuthResponseError | undefined {
  if (typeof body.error !== 'string') return undefined
  const fields: ConstructorParameters<typeof OAuthResponseError>[0] = {
    error: body.error,
    status: response.status,
  }
  const description = optionalString(body.error_description)
  const uri = optionalString(body.error_uri)
  if (description !== undefined) fields.error_description = description
  if (uri !== undefined) fields.error_uri = uri
  return new OAuthResponseError(fields, { response })
}

function addGrantParameters(params: URLSearchParams, parameters: GrantParameters = {}): void {
  if (parameters.scope !== undefined) params.set('scope', parameters.scope)
  const resources = parameters.resource === undefined ? [] : [parameters.resource].flat()
  for (const resource of resources) params.append('resource', resource)
  for (const [name, value] of Object.entries(parameters.extra ?? {})) params.set(name, value)
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'

function addExchangeParameters(params: URLSearchParams, exchange: TokenExchangeOptions): void {
  params.set('grant_type', TOKEN_EXCHANGE_GRANT)
  params.set('subject_token', exchange.subjectToken)
  params.set('subject_token_type', exchange.subjectTokenType ?? TOKEN_TYPE_ACCESS_TOKEN)
  if (exchange.actorToken !== undefined) {
    params.set('actor_token', exchange.actorToken)
    params.set('actor_token_type', exchange.actorTokenType ?? TOKEN_TYPE_ACCESS_TOKEN)
  }
  if (exchange.requestedTokenType !== undefined)
    params.set('requested_token_type', exchange.requestedTokenType)
  const audiences = exchange.audience === undefined ? [] : [exchange.audience].flat()
  for (const audience of audiences) params.append('audience', audience)
  addGrantParameters(params, exchange)
}

/**
 * Creates a token client for one authorization server, one client and one proof key.
 * @example
 * ```ts
 * const metadata = await discover('https://as.example.com')
 * const key = await createBrowserKeyStore().getKey()
 * const tokens = createTokenClient({ metadata, clientId: 'spa', key })
 * const request = await tokens.createAuthorizationRequest({ redirectUri: location.origin + '/cb', scope: 'api' })
 * sessionStorage.setItem('auth', JSON.stringify(request)); location.assign(request.url)
 * // back on /cb:
 * await tokens.handleCallback(location.href, JSON.parse(sessionStorage.getItem('auth')!))
 * const api = tokens.createFetch()
 * await api('https://api.example.com/items')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const { metadata, clientId, key } = options
  if (typeof metadata?.issuer !== 'string') throw invalidArgument('metadata.issuer', 'a string')
  if (typeof clientId !== 'string' || clientId === '')
    throw invalidArgument('clientId', 'a non-empty string')
  const supported = metadata.dpop_signing_alg_values_supported
  // RFC 9449 §5.1 (C14): a key the server cannot verify would fail every token request.
  if (Array.isArray(supported) && supported.length > 0 && !supported.includes(key?.alg)) {
    throw invalidArgument(
      'key',
      `of an "alg" the authorization server accepts for DPoP proofs (${supported.join(', ')}), not ${String(key?.alg)}`,
    )
  }
  const clientAuth = options.clientAuth ?? none()
  const allowInsecureHttp = options.allowInsecureHttp ?? false
  const now = options.now ?? Date.now
  const refreshSkewMs = (options.refreshSkew ?? 30) * 1000
  const nonces = options.nonces ?? createNonceCache()
  // Token and PAR requests handle the nonce retry here: a client assertion is single-use, so the
  // retry needs a fresh body, not the replayed one.
  const asFetch = createDPoPFetch({
    key,
    nonces,
    allowInsecureHttp,
    retryOnNonce: false,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  })
  let tokens: TokenSet | undefined
  // The refresh in flight, and whether it carries no extra parameters (so any caller may join it).
  let refreshing: { plain: boolean; promise: Promise<TokenSet> } | undefined

  function endpoint(
    name: 'token_endpoint' | 'pushed_authorization_request_endpoint' | 'authorization_endpoint',
  ): URL {
    const value = metadata[name]
    if (typeof value !== 'string') throw invalidArgument(`metadata.${name}`, 'a string')
    const url = parseUrl(value, name)
    assertSecureUrl(url, allowInsecureHttp)
    return url
  }

  /** POSTs a form with client authentication and a DPoP proof; one retry on `use_dpop_nonce`. */
  async function post(url: URL, build: (params: URLSearchParams) => void): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const params = new URLSearchParams()
      build(params)
      const headers = new Headers({
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      })
      await clientAuth.apply({
        clientId,
        issuer: metadata.issuer,
        endpoint: url.href,
        params,
        headers,
      })
      const response = await asFetch(url.href, { method: 'POST', headers, body: params.toString() })
      if (!(await isNonceChallenge(response))) return response
      if (attempt === 1 || response.headers.get('dpop-nonce') === null) {
        if (attempt === 1)
          throw new NonceLoop('the server asked for a DPoP nonce again after the retry', {
            response,
          })
        const body = await readJson(response)
        throw oauthError(body, response)!
      }
      response.body?.cancel().catch(() => {})
    }
  }

  function parseTokenResponse(body: Record<string, unknown>, response: Response): TokenSet {
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      throw new InvalidResponse('token response has no "access_token"', { response })
    }
    // RFC 9449 §5 (C3/C4): compared case-insensitively; anything else is discarded, because a
    // Bearer token would silently drop the key binding this client asked for.
    if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'dpop') {
      throw new TokenTypeMismatch(
        `token response "token_type" is ${JSON.stringify(String(body.token_type ?? ''))}, not DPoP`,
        {
          response,
        },
      )
    }
    const set: { -readonly [K in keyof TokenSet]: TokenSet[K] } = {
      accessToken: body.access_token,
      tokenType: 'DPoP',
    }
    if (body.expires_in !== undefined) {
      const seconds = Number(body.expires_in)
      if (!Number.isFinite(seconds))
        throw new InvalidResponse('token response "expires_in" is not a number', { response })
      set.expiresAt = now() + seconds * 1000
    }
    const refreshToken = optionalString(body.refresh_token)
    const scope = optionalString(body.scope)
    if (refreshToken !== undefined) set.refreshToken = refreshToken
    if (scope !== undefined) set.scope = scope
    // `id_token` is dropped on purpose: it is never validated here (D27, docs/adr/0038).
    return Object.freeze(set)
  }

  async function tokenRequest(build: (params: URLSearchParams) => void): Promise<TokenSet> {
    const response = await post(endpoint('token_endpoint'), build)
    const body = await readJson(response)
    if (!response.ok)
      throw (
        oauthError(body, response) ??
        new InvalidResponse(`token endpoint answered HTTP ${response.status}`, { response })
      )
    return parseTokenResponse(body, response)
  }

  function keep(set: TokenSet): TokenSet {
    // A refresh response without a refresh token keeps the old one (RFC 6749 §6).
    if (set.refreshToken === undefined && tokens?.refreshToken !== undefined) {
      set = Object.freeze({ ...set, refreshToken: tokens.refreshToken })
    }
    tokens = set
    return set
  }

  async function pushAuthorizationRequest(params: URLSearchParams): Promise<string> {
    const response = await post(endpoint('pushed_authorization_request_endpoint'), (body) => {
      for (const [name, value] of params) body.append(name, value)
    })
    const body = await readJson(response)
    if (!response.ok)
      throw (
        oauthError(body, response) ??
        new InvalidResponse(`PAR endpoint answered HTTP ${response.status}`, { response })
      )
    if (typeof body.request_uri !== 'string')
      throw new InvalidResponse('PAR response has no "request_uri"', { response })
    return body.request_uri
  }

  async function requestRefresh(parameters?: GrantParameters): Promise<TokenSet> {
    const refreshToken = tokens?.refreshToken
    if (refreshToken === undefined) throw new LoginRequired('there is no refresh token')
    return keep(
      await tokenRequest((params) => {
        params.set('grant_type', 'refresh_token')
        params.set('refresh_token', refreshToken)
        addGrantParameters(params, parameters)
      }),
    )
  }

  /**
   * One refresh at a time: a rotated refresh token is single-use, so a second request with the
   * same token would fail or, worse, be taken as replay and revoke the family. A plain refresh
   * joins the one in flight; one with its own parameters waits for it, then uses the new token.
   */
  function refresh(parameters?: GrantParameters): Promise<TokenSet> {
    const plain = parameters === undefined
    const current = refreshing
    if (current !== undefined) {
      if (plain && current.plain) return current.promise
      return current.promise.then(
        () => refresh(parameters),
        () => refresh(parameters),
      )
    }
    const promise = requestRefresh(parameters).finally(() => {
      if (refreshing?.promise === promise) refreshing = undefined
    })
    refreshing = { plain, promise }
    return promise
  }

  const client: TokenClient = {
    get tokens() {
      return tokens
    },

    jkt: () => getJkt(key),

    async clientCredentials(parameters) {
      return keep(
        await tokenRequest((params) => {
          params.set('grant_type', 'client_credentials')
          addGrantParameters(params, parameters)
        }),
      )
    },

    async createAuthorizationRequest(request) {
      if (typeof request?.redirectUri !== 'string') throw invalidArgument('redirectUri', 'a string')
      const authorizationUrl = endpoint('authorization_endpoint')
      const state = randomBase64url(32)
      const codeVerifier = randomBase64url(32)
      const params = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: request.redirectUri,
        state,
        code_challenge: await sha256Base64url(codeVerifier),
        code_challenge_method: 'S256',
      })
      addGrantParameters(params, request)
      const usePar =
        request.par ??
        (typeof metadata.pushed_authorization_request_endpoint === 'string' ||
          metadata.require_pushed_authorization_requests === true)
      // With PAR the DPoP header on the push binds the code (RFC 9449 §10.1); dpop_jkt is the
      // way for a plain front-channel request (§10).
      if (request.dpopJkt ?? !usePar) params.set('dpop_jkt', await getJkt(key))
      if (usePar) {
        const requestUri = await pushAuthorizationRequest(params)
        const pushed = new URLSearchParams({ client_id: clientId, request_uri: requestUri })
        authorizationUrl.search = pushed.toString()
      } else {
        for (const [name, value] of params) authorizationUrl.searchParams.append(name, value)
      }
      return Object.freeze({
        url: authorizationUrl.href,
        state,
        codeVerifier,
        redirectUri: request.redirectUri,
      })
    },

    async handleCallback(callback, request) {
      const params =
        callback instanceof URLSearchParams
          ? callback
          : parseUrl(callback, 'callback URL').searchParams
      // RFC 9207 §2.4: check the issuer first, so a mix-up attacker's error or code is never used.
      const iss = params.get('iss')
      if (iss === null && metadata.authorization_response_iss_parameter_supported === true) {
        throw new IssuerMismatch(
          'the authorization response has no "iss" although the server sends it',
          { reason: 'missing' },
        )
      }
      if (iss !== null && iss !== metadata.issuer) {
        throw new IssuerMismatch(
          'the authorization response "iss" is not this authorization server',
          { reason: 'iss' },
        )
      }
      if (params.get('state') !== request.state) {
        throw new StateMismatch('the authorization response "state" does not match the request')
      }
      const error = params.get('error')
      if (error !== null) {
        const fields: ConstructorParameters<typeof OAuthResponseError>[0] = { error }
        const description = params.get('error_description')
        if (description !== null) fields.error_description = description
        throw new OAuthResponseError(fields)
      }
      const code = params.get('code')
      if (code === null || code === '')
        throw new InvalidResponse('the authorization response has no "code"')
      return keep(
        await tokenRequest((body) => {
          body.set('grant_type', 'authorization_code')
          body.set('code', code)
          body.set('redirect_uri', request.redirectUri)
          body.set('code_verifier', request.codeVerifier)
        }),
      )
    },

    refresh(parameters) {
      return refresh(parameters)
    },

    async exchangeToken(exchange) {
      if (typeof exchange?.subjectToken !== 'string' || exchange.subjectToken === '')
        throw invalidArgument('subjectToken', 'a non-empty string')
      const response = await post(endpoint('token_endpoint'), (params) =>
        addExchangeParameters(params, exchange),
      )
      const body = await readJson(response)
      if (!response.ok)
        throw (
          oauthError(body, response) ??
          new InvalidResponse(`token endpoint answered HTTP ${response.status}`, { response })
        )
      // RFC 8693 §2.2.1: issued_token_type is REQUIRED in the response.
      if (typeof body.issued_token_type !== 'string' || body.issued_token_type === '')
        throw new InvalidResponse('token exchange response has no "issued_token_type"', {
          response,
        })
      return Object.freeze({
        ...parseTokenResponse(body, response),
        issuedTokenType: body.issued_token_type,
      })
    },

    async getAccessToken() {
      const current = tokens
      if (current === undefined) throw new LoginRequired('no access token: run a grant first')
      if (current.expiresAt === undefined || current.expiresAt - refreshSkewMs > now())
        return current.accessToken
      if (current.refreshToken === undefined) {
        if (current.expiresAt > now()) return current.accessToken
        throw new LoginRequired('the access token expired and there is no refresh token')
      }
      return (await refresh()).accessToken
    },

    setTokens(next) {
      tokens = next === undefined ? undefined : Object.freeze({ ...next })
    },

    createFetch(fetchOptions = {}) {
      return createDPoPFetch({
        nonces,
        allowInsecureHttp,
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
        ...fetchOptions,
        key,
        accessToken: () => client.getAccessToken(),
      })
    },
  }
  return client
}
