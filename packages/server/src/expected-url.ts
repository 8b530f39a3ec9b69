/**
 * The URL the server was reached at, for the `htu` check: the configured public base URL plus
 * the request path. `Host`, `Forwarded` and `X-Forwarded-*` are client-controlled unless a
 * proxy overwrites them, so they are read only when `trustProxy` is on (B16, D3, D4).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
import { invalidArgument, isLoopbackHost, stripQueryAndFragment } from '@keybound/core/internal'
import { readHeader, trimOws } from './lib/headers.js'
import type { RequestLike } from './types.js'

/** The parsed, validated public base URL. */
export interface PublicBase {
  /** `https://host[:port]` */
  readonly origin: string
  /** Path prefix without a trailing slash ('' for none). */
  readonly prefix: string
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/

/**
 * Validates `publicBaseUrl` when the server is built (it throws at once, never per request).
 * @example
 * ```ts
 * parsePublicBaseUrl('https://api.example.com/v1') // { origin: 'https://api.example.com', prefix: '/v1' }
 * ```
 */
export function parsePublicBaseUrl(value: string, allowInsecureHttp = false): PublicBase {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalidArgument('publicBaseUrl', 'an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalidArgument('publicBaseUrl', 'an http(s) URL')
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    throw invalidArgument('publicBaseUrl', 'https outside loopback (RFC 9449 §2)')
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw invalidArgument(
      'publicBaseUrl',
      'an origin and path, without user info, query or fragment',
    )
  }
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') }
}

/** The path of a request target (origin-form or absolute-form), or `undefined` for others (`*`). */
export function pathOf(target: string): string | undefined {
  if (target.startsWith('/')) return stripQueryAndFragment(target)
  // Absolute-form: its host is as client-controlled as `Host`, so only the path is used.
  const absolute = ABSOLUTE_FORM.exec(target)
  if (absolute === null) return undefined
  return absolute[1] === '' ? '/' : absolute[1]
}

function firstListItem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const first = trimOws(value.split(',', 1)[0] ?? '')
  return first === '' ? undefined : first
}

// RFC 7239 `Forwarded: for=…;proto=https;host=api.example.com`, first element (the client side).
function forwardedParameter(headers: RequestLike['headers'], name: string): string | undefined {
  const element = firstListItem(readHeader(headers, 'forwarded'))
  if (element === undefined) return undefined
  for (const pair of element.split(';')) {
    const [key, raw] = pair.split('=', 2) as [string, string | undefined]
    if (trimOws(key).toLowerCase() === name && raw !== undefined)
      return trimOws(raw).replace(/^"(.*)"$/, '$1')
  }
  return undefined
}

function proxiedOrigin(headers: RequestLike['headers'], base: PublicBase): string {
  const proto =
    forwardedParameter(headers, 'proto') ??
    firstListItem(readHeader(headers, 'x-forwarded-proto')) ??
    base.origin.split(':', 1)[0]
  const host =
    forwardedParameter(headers, 'host') ??
    firstListItem(readHeader(headers, 'x-forwarded-host')) ??
    firstListItem(readHeader(headers, 'host'))
  const scheme = proto?.toLowerCase()
  // Anything odd falls back to the configured origin: the proof then fails, closed.
  if ((scheme !== 'https' && scheme !== 'http') || host === undefined || !HOST.test(host))
    return base.origin
  return `${scheme}://${host}`
}

/**
 * The URL to check `htu` against, without query, or `undefined` when the request target has no
 * path to build one from.
 * @example
 * ```ts
 * expectedUrl({ method: 'GET', url: '/items?page=2', headers: {} }, base, false) // 'https://api.example.com/items'
 * ```
 */
export function expectedUrl(
  request: RequestLike,
  base: PublicBase,
  trustProxy: boolean,
): string | undefined {
  const path = typeof request.url === 'string' ? pathOf(request.url) : undefined
  if (path === undefined) return undefined
  const origin = trustProxy ? proxiedOrigin(request.headers, base) : base.origin
  return `${origin}${base.prefix}${path}`
}
