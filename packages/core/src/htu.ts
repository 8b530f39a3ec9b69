/**
 * `htu` comparison (RFC 9449 §4.3 item 9 and its SHOULD on RFC 3986 §6.2.2/§6.2.3
 * normalization). Both the claim and the server's own URL go through the same function, so the
 * comparison is symmetric; query and fragment are dropped on both sides.
 * @packageDocumentation
 */

// RFC 3986 characters (reserved, unreserved and '%'). Anything else (spaces, tabs, backslashes,
// non-ASCII) is refused rather than repaired, because the WHATWG parser would quietly repair it.
const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/
const PERCENT_ENCODED = /%([0-9a-fA-F]{2})/g
const UNRESERVED = /[A-Za-z0-9\-._~]/
// RFC 3986 `scheme "://" authority`: the WHATWG parser also takes `https:host/p`, `https:///host/p`
// and an empty `@` user info, and repairs them into `https://host/p`; those are other URIs.
const AUTHORITY = /^https?:\/\/([^/?#]*)/i

function normalizePercentEncoding(_match: string, hex: string): string {
  const character = String.fromCharCode(parseInt(hex, 16))
  return UNRESERVED.test(character) ? character : `%${hex.toUpperCase()}`
}

/**
 * Normalizes an `http`/`https` URI for `htu` comparison: lower-case scheme and host, default
 * port and empty port dropped, dot-segments removed, empty path as `/`, percent-encoding of
 * unreserved characters decoded and other escapes upper-cased, query and fragment removed.
 * Returns `undefined` for anything that is not an absolute `http(s)` URI without user info.
 *
 * @example
 * ```ts
 * normalizeHtu('HTTPS://Server.Example.com:443/%7Etoken?x=1') // 'https://server.example.com/~token'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2
 */
export function normalizeHtu(uri: string | URL): string | undefined {
  const text = typeof uri === 'string' ? uri : uri.href
  if (text.length > 8192 || !URI_CHARACTERS.test(text)) return undefined
  const authority = AUTHORITY.exec(text)?.[1]
  if (authority === undefined || authority === '' || authority.includes('@')) return undefined
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '' || url.hostname === '') return undefined
  const path = url.pathname.replace(PERCENT_ENCODED, normalizePercentEncoding)
  return `${url.protocol}//${url.host}${path}`
}

/**
 * The URI without its query and fragment, as a client puts it into `htu` (§4.2).
 * @example
 * ```ts
 * stripQueryAndFragment('https://rs.example/x?y=1#f') // 'https://rs.example/x'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function stripQueryAndFragment(uri: string | URL): string {
  const text = typeof uri === 'string' ? uri : uri.href
  const query = text.indexOf('?')
  const fragment = text.indexOf('#')
  const cut = query === -1 ? fragment : fragment === -1 ? query : Math.min(query, fragment)
  return cut === -1 ? text : text.slice(0, cut)
}

/**
 * True when an absolute `http(s)` URI names a loopback host (see {@link isLoopbackHost}), read
 * from its authority without a URL parse; a URI with user info never counts.
 * @example
 * ```ts
 * isLoopbackUri('http://127.0.0.1:8080/items') // true
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-2
 */
export function isLoopbackUri(uri: string): boolean {
  const authority = AUTHORITY.exec(uri)?.[1]
  if (authority === undefined || authority.includes('@')) return false
  const host = authority.startsWith('[')
    ? authority.slice(0, authority.indexOf(']') + 1)
    : authority.replace(/:\d*$/, '')
  return isLoopbackHost(host.toLowerCase())
}

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`: hosts where plain `http` stays on the machine. */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  )
}
