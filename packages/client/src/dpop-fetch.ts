/**
 * `createDPoPFetch`: a `fetch`-compatible function that signs a fresh DPoP proof for every
 * request (RFC 9449 §4.2, §7), learns `DPoP-Nonce` values per origin (§8, §9), retries exactly
 * once when a server answers `use_dpop_nonce`, and follows redirects itself so that every hop
 * gets a proof for its own URL. It wraps the `fetch` it is given; it never patches globals.
 * @packageDocumentation
 */
import { createProof, type DPoPKeyPair, type ProofSigner } from '@keybound/core'
import { invalidArgument } from '@keybound/core/internal'
import { NetworkError, NonceLoop, NonceMissing, TooManyRedirects } from './errors.js'
import { ReplayableBody } from './lib/replayable-body.js'
import { assertSecureUrl, parseUrl } from './lib/urls.js'
import { createNonceCache, type NonceCache } from './nonce-cache.js'
import { findChallenge, parseWwwAuthenticate } from './www-authenticate.js'

/** The `fetch` signature the wrapper takes and returns. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** Where the access token comes from: a string, or a function asked before every request. */
export type AccessTokenSource = string | (() => string | undefined | Promise<string | undefined>)

/** Options of {@link createDPoPFetch}. */
export interface DPoPFetchOptions {
  /** The `fetch` to wrap (default: `globalThis.fetch`, looked up at call time, never replaced). */
  fetch?: FetchLike
  /** The proof key: a key pair from core, a key store's key, or any {@link ProofSigner}. */
  key: DPoPKeyPair | ProofSigner
  /**
   * The access token to send as `Authorization: DPoP <token>` when the request has no
   * `Authorization` header. A request that already has `Authorization: DPoP <token>` is signed
   * with `ath` for that token.
   */
  accessToken?: AccessTokenSource
  /** Nonce cache to use (share one with the token client); a private bounded one by default. */
  nonces?: NonceCache
  /** Allow plain `http:` to hosts that are not loopback (RFC 9449 §2 forbids it; tests only). */
  allowInsecureHttp?: boolean
  /** How many redirects to follow, each with a fresh proof (default 5). */
  maxRedirects?: number
  /** Base for relative URLs (default: `location.href` in browsers). */
  baseUrl?: string | URL
  /**
   * Retry once on `use_dpop_nonce` (default `true`). Turn it off to handle the challenge
   * yourself, e.g. when the body must change per attempt (a one-time client assertion).
   */
  retryOnNonce?: boolean
}

/** A `fetch`-compatible function that adds DPoP. */
export type DPoPFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

// The fetch standard upper-cases exactly these methods; anything else goes on the wire as given,
// and `htm` must be what goes on the wire (methods are case-sensitive, RFC 9110 §9.1).
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
// Headers that describe a body; dropped when a redirect turns the request into a body-less GET.
const BODY_HEADERS = [
  'content-encoding',
  'content-language',
  'content-location',
  'content-type',
  'content-length',
]
const REQUEST_FIELDS = [
  'cache',
  'credentials',
  'integrity',
  'keepalive',
  'mode',
  'referrer',
  'referrerPolicy',
] as const

function normalizeMethod(method: string | undefined): string {
  if (method === undefined) return 'GET'
  const upper = method.toUpperCase()
  return NORMALIZED_METHODS.has(upper) ? upper : method
}

/**
 * Outgoing headers: a `Headers` copy when the caller gave headers, otherwise a plain record with
 * lower-case names. The record saves building and validating a `Headers` object per request on
 * the hot path (the wrapped `fetch` builds its own from it anyway).
 */
type HeaderBag = Headers | Record<string, string>

function getHeader(bag: HeaderBag, name: string): string | null {
  return bag instanceof Headers ? bag.get(name) : (bag[name] ?? null)
}

function setHeader(bag: HeaderBag, name: string, value: string): void {
  if (bag instanceof Headers) bag.set(name, value)
  else bag[name] = value
}

function deleteHeader(bag: HeaderBag, name: string): void {
  if (bag instanceof Headers) bag.delete(name)
  else delete bag[name]
}

/** The parts of one outgoing request the wrapper works on. */
interface Outgoing {
  url: URL
  /** `url.origin`, kept in step with `url` (the nonce cache key). */
  origin: string
  method: string
  headers: HeaderBag
  body: ReplayableBody
  init: RequestInit
  accessToken: string | undefined
}

function baseOf(options: DPoPFetchOptions): string | undefined {
  if (options.baseUrl !== undefined) return String(options.baseUrl)
  const location = (globalThis as { location?: { href?: string } }).location
  return typeof location?.href === 'string' ? location.href : undefined
}

function describeRequest(
  input: string | URL | Request,
  init: RequestInit | undefined,
  base: string | undefined,
) {
  const extra: RequestInit = {}
  if (typeof Request !== 'undefined' && input instanceof Request) {
    for (const field of REQUEST_FIELDS) (extra as Record<string, unknown>)[field] = input[field]
    extra.signal = input.signal
    extra.redirect = input.redirect
    return {
      url: parseUrl(input.url, 'request URL'),
      method: normalizeMethod(init?.method ?? input.method),
      headers: new Headers(init?.headers ?? input.headers),
      body: init?.body !== undefined ? init.body : input.body,
      init: { ...extra, ...init },
    }
  }
  return {
    url: parseUrl(input as string | URL, 'request URL', base),
    method: normalizeMethod(init?.method),
    headers:
      init?.headers === undefined ? ({} as Record<string, string>) : new Headers(init.headers),
    body: init?.body,
    init: { ...init },
  }
}

function tokenFromAuthorization(headers: HeaderBag): string | undefined {
  const authorization = getHeader(headers, 'authorization')
  if (authorization === null) return undefined
  // RFC 9449 §7.1: credentials = "DPoP" 1*SP token68; the scheme is case-insensitive.
  const match = /^dpop +(\S+)$/i.exec(authorization)
  return match?.[1]
}

/**
 * True when the response is an AS (400 JSON) or RS (401 challenge) `use_dpop_nonce` (§8, §9).
 * The body is read from a clone, so the response stays readable.
 * @example
 * ```ts
 * const api = createDPoPFetch({ fetch, key, retryOnNonce: false })
 * const response = await api(url, { method: 'POST', body: freshBody() })
 * if (await isNonceChallenge(response)) await api(url, { method: 'POST', body: freshBody() })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export async function isNonceChallenge(response: Response): Promise<boolean> {
  if (response.status === 401) {
    const challenge = findChallenge(parseWwwAuthenticate(response.headers), 'DPoP')
    return challenge?.params.error === 'use_dpop_nonce'
  }
  if (response.status !== 400 || !/json/i.test(response.headers.get('content-type') ?? ''))
    return false
  try {
    const body = (await response.clone().json()) as { error?: unknown }
    return body?.error === 'use_dpop_nonce'
  } catch {
    return false
  }
}

function discard(response: Response): void {
  response.body?.cancel().catch(() => {})
}

function isAbort(error: unknown): boolean {
  const name = (error as { name?: unknown })?.name
  return name === 'AbortError' || name === 'TimeoutError'
}

/**
 * Creates a `fetch`-compatible function that adds a fresh DPoP proof to every request, keeps
 * the latest `DPoP-Nonce` per origin, and retries exactly once with a new proof when the
 * authorization server (400 `{"error":"use_dpop_nonce"}`) or a resource server (401
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"`) asks for a nonce. Request bodies, streams
 * included, are replayed correctly on that retry.
 *
 * Throws `InsecureRequest` for plain `http:` to a non-loopback host, `NonceLoop` when the
 * retry is answered with another nonce challenge, `NonceMissing` when a nonce challenge comes
 * without a `DPoP-Nonce`, `NetworkError` when the wrapped `fetch` fails (aborts stay aborts).
 * Other responses, errors included, are returned as they are, as `fetch` does.
 *
 * @example
 * ```ts
 * const key = await generateKeyPair('ES256')
 * const api = createDPoPFetch({ fetch, key, accessToken: () => tokens.getAccessToken() })
 * const response = await api('https://api.example.com/items', { method: 'POST', body: JSON.stringify(item) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export function createDPoPFetch(options: DPoPFetchOptions): DPoPFetch {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  const {
    key,
    accessToken,
    allowInsecureHttp = false,
    maxRedirects = 5,
    retryOnNonce = true,
  } = options
  if (typeof key !== 'object' || key === null || typeof key.alg !== 'string') {
    throw invalidArgument('key', 'a DPoP key pair or a proof signer')
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw invalidArgument('fetch', 'a function')
  }
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw invalidArgument('maxRedirects', 'a non-negative integer')
  }
  const nonces = options.nonces ?? createNonceCache()
  const callFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))

  async function sendOnce(outgoing: Outgoing, followRedirects: boolean): Promise<Response> {
    const origin = outgoing.origin
    const nonce = nonces.get(origin)
    const proof = await createProof(key, {
      htm: outgoing.method,
      htu: outgoing.url.href,
      ...(outgoing.accessToken === undefined ? {} : { accessToken: outgoing.accessToken }),
      ...(nonce === undefined ? {} : { nonce }),
    })
    setHeader(outgoing.headers, 'dpop', proof)
    const init: RequestInit & { duplex?: 'half' } = {
      ...outgoing.init,
      method: outgoing.method,
      headers: outgoing.headers,
      body: outgoing.body.next(),
    }
    if (outgoing.body.isStream) init.duplex = 'half'
    if (followRedirects) init.redirect = 'manual'
    let response: Response
    try {
      response = await callFetch(outgoing.url.href, init)
    } catch (error) {
      if (isAbort(error)) throw error
      throw new NetworkError(`request to ${origin} failed`, { cause: error })
    }
    const next = response.headers.get('dpop-nonce')
    if (next !== null) nonces.set(origin, next)
    return response
  }

  /** One hop: a signed request and, on a nonce challenge, exactly one signed retry. */
  async function sendWithNonceRetry(
    outgoing: Outgoing,
    followRedirects: boolean,
  ): Promise<Response> {
    const first = await sendOnce(outgoing, followRedirects)
    // Only a 400 or a 401 can be a nonce challenge; everything else skips the async check.
    if (!retryOnNonce || (first.status !== 400 && first.status !== 401)) return first
    if (!(await isNonceChallenge(first))) return first
    if (first.headers.get('dpop-nonce') === null) {
      throw new NonceMissing('the server asked for a DPoP nonce without sending one', {
        response: first,
      })
    }
    discard(first)
    const retry = await sendOnce(outgoing, followRedirects)
    if (await isNonceChallenge(retry)) {
      throw new NonceLoop('the server asked for a DPoP nonce again after the retry', {
        response: retry,
      })
    }
    return retry
  }

  function redirectTarget(outgoing: Outgoing, response: Response): URL | undefined {
    if (!REDIRECT_STATUSES.has(response.status)) return undefined
    const location = response.headers.get('location')
    return location === null
      ? undefined
      : parseUrl(location, 'redirect location', outgoing.url.href)
  }

  function prepareRedirect(outgoing: Outgoing, response: Response, target: URL): void {
    const status = response.status
    // The fetch standard's method rewrite: 303 (except HEAD), and 301/302 after a POST, become GET.
    if (
      (status === 303 && outgoing.method !== 'HEAD') ||
      ((status === 301 || status === 302) && outgoing.method === 'POST')
    ) {
      outgoing.method = 'GET'
      outgoing.body.drop()
      outgoing.body = new ReplayableBody(null)
      for (const name of BODY_HEADERS) deleteHeader(outgoing.headers, name)
    }
    // The access token is bound to its audience: never carry it to another origin.
    if (target.origin !== outgoing.origin) {
      deleteHeader(outgoing.headers, 'authorization')
      outgoing.accessToken = undefined
    }
    assertSecureUrl(target, allowInsecureHttp)
    outgoing.url = target
    outgoing.origin = target.origin
  }

  return async function dpopFetch(input, init) {
    const request = describeRequest(input, init, baseOf(options))
    assertSecureUrl(request.url, allowInsecureHttp)
    let token = tokenFromAuthorization(request.headers)
    if (
      token === undefined &&
      accessToken !== undefined &&
      getHeader(request.headers, 'authorization') === null
    ) {
      token = typeof accessToken === 'string' ? accessToken : await accessToken()
      if (token !== undefined) setHeader(request.headers, 'authorization', `DPoP ${token}`)
    }
    const followRedirects =
      request.init.redirect === undefined || request.init.redirect === 'follow'
    const outgoing: Outgoing = {
      url: request.url,
      origin: request.url.origin,
      method: request.method,
      headers: request.headers,
      init: request.init,
      body: new ReplayableBody(request.body),
      accessToken: token,
    }
    try {
      for (let hops = 0; ; hops++) {
        const response = await sendWithNonceRetry(outgoing, followRedirects)
        const target = followRedirects ? redirectTarget(outgoing, response) : undefined
        // A browser hides the Location of a manual redirect (`opaqueredirect`): hand it back as is.
        if (target === undefined) return response
        if (hops >= maxRedirects)
          throw new TooManyRedirects(`more than ${maxRedirects} redirects`, { response })
        discard(response)
        prepareRedirect(outgoing, response, target)
      }
    } finally {
      outgoing.body.release()
    }
  }
}
