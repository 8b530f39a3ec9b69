/**
 * Finding the access token: the `Authorization` header (`DPoP` and `Bearer` schemes), the
 * `access_token` query parameter and form body member (RFC 6750 §2.2, §2.3), so that a token
 * sent in more than one way, or a bound token sent the Bearer way, is noticed.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2
 */
import { readHeader, readHeaderValues, trimOws } from './lib/headers.js'
import type { RequestLike } from './types.js'

/** One access token and how it was sent. */
export interface Credential {
  scheme: 'DPoP' | 'Bearer'
  token: string
  via: 'authorization' | 'query' | 'body'
}

/** What the request carries. */
export type CredentialSearch =
  | { kind: 'none' }
  | { kind: 'one'; credential: Credential }
  | { kind: 'multiple' }
  | { kind: 'malformed'; scheme: 'DPoP' | 'Bearer' }

/** Longest access token accepted (far above any real JWT access token). */
export const MAX_TOKEN_LENGTH = 16_384

const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/
const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i

type Found = Credential | { malformed: 'DPoP' | 'Bearer' }

// RFC 7235 `credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`. The scheme is
// case-insensitive; anything but spaces between scheme and token (a tab, say) is malformed.
function parseCredentials(value: string): Found | undefined {
  const scheme = TOKEN_CHARS.exec(value)?.[0]
  if (scheme === undefined) return undefined
  const lower = scheme.toLowerCase()
  const name = lower === 'dpop' ? 'DPoP' : lower === 'bearer' ? 'Bearer' : undefined
  if (name === undefined) return undefined
  // One or more spaces, then the token.
  let start = scheme.length
  while (value.charCodeAt(start) === 0x20) start++
  const token = value.slice(start)
  if (start === scheme.length || token.length > MAX_TOKEN_LENGTH || !TOKEN68.test(token))
    return { malformed: name }
  return { scheme: name, token, via: 'authorization' }
}

// A token68 never contains a comma, so a comma means that field lines were combined
// (RFC 9110 §5.3): each part is judged on its own, and two credentials are two methods.
function findInAuthorization(headers: RequestLike['headers'], found: Found[]): void {
  for (const line of readHeaderValues(headers, 'authorization')) {
    if (!line.includes(',')) {
      addCredentials(trimOws(line), found)
      continue
    }
    for (const part of line.split(',')) addCredentials(trimOws(part), found)
  }
}

function addCredentials(value: string, found: Found[]): void {
  const credentials = parseCredentials(value)
  if (credentials !== undefined) found.push(credentials)
}

function queryOf(url: string): string | undefined {
  const start = url.indexOf('?')
  if (start === -1) return undefined
  const end = url.indexOf('#', start)
  return url.slice(start + 1, end === -1 ? undefined : end)
}

function addBearers(values: readonly unknown[], via: 'query' | 'body', found: Found[]): void {
  for (const value of values)
    found.push(
      typeof value === 'string' && value.length > 0 && value.length <= MAX_TOKEN_LENGTH
        ? { scheme: 'Bearer', token: value, via }
        : { malformed: 'Bearer' },
    )
}

function findInQuery(url: string, found: Found[]): void {
  const query = queryOf(url)
  if (query === undefined || !query.includes('access_token')) return
  addBearers(new URLSearchParams(query).getAll('access_token'), 'query', found)
}

function formTokens(body: unknown): unknown[] {
  if (typeof body === 'string') return new URLSearchParams(body).getAll('access_token')
  if (body instanceof URLSearchParams) return body.getAll('access_token')
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, 'access_token')) return []
  const value = (body as Record<string, unknown>).access_token
  return Array.isArray(value) ? value : [value]
}

/**
 * Whether the request's body may carry an RFC 6750 §2.2 form token: a form-encoded body of a
 * method whose body has semantics (never GET or HEAD).
 */
export function hasFormBody(request: RequestLike): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false
  const contentType = readHeader(request.headers, 'content-type')
  return contentType !== undefined && FORM_CONTENT_TYPE.test(contentType)
}

function findInBody(request: RequestLike, found: Found[]): void {
  if (request.body === undefined || !hasFormBody(request)) return
  addBearers(formTokens(request.body), 'body', found)
}

/**
 * Looks for access tokens in every place a client may put one. `Proxy-Authorization` is never
 * read (RFC 9449 §7.1 MUST NOT), and unknown schemes count as no credentials (RFC 6750 §3.1).
 * The three places add to one list: no list per place on every request.
 */
export function findCredentials(request: RequestLike): CredentialSearch {
  const found: Found[] = []
  findInAuthorization(request.headers, found)
  findInQuery(request.url, found)
  findInBody(request, found)
  if (found.length === 0) return { kind: 'none' }
  if (found.length > 1) return { kind: 'multiple' }
  const only = found[0]!
  return 'malformed' in only
    ? { kind: 'malformed', scheme: only.malformed }
    : { kind: 'one', credential: only }
}
