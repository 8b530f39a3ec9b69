/**
 * The URL rules of both config files, each a named {@link UrlRule}, and the one wording of
 * their problems. Plain http is allowed for issuers and redirect URIs only on a loopback host,
 * read by core's own `isLoopbackHost` so the config and the proof checks cannot disagree.
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.3
 * @packageDocumentation
 */
import { isLoopbackHost } from '@keybound/core'

/** What a URL setting accepts. Left out, a part is allowed. */
export interface UrlRule {
  /** Schemes allowed, without the colon, in the order the message names them. */
  readonly schemes: readonly string[]
  /** Plain `http` only on a loopback host (RFC 8252 §7.3); `https` anywhere. */
  readonly loopbackHttp?: boolean
  /** A `?query` is allowed (default `true`). */
  readonly query?: boolean
  /** A `#fragment` is allowed (default `true`). */
  readonly fragment?: boolean
  /** `user:password@` is allowed (default `true`). */
  readonly userInfo?: boolean
}

/**
 * The URL rules the two loaders use, by what the URL is for.
 * @example
 * ```ts
 * import { checkUrl, URL_RULES } from '@keybound/config-kit'
 * checkUrl('redis://cache:6379', URL_RULES.redis) // undefined: accepted
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-4.3
 */
export const URL_RULES = {
  /** An issuer identifier (RFC 8414 §2): https (or loopback http), no query, no fragment. */
  issuer: {
    schemes: ['https'],
    loopbackHttp: true,
    query: false,
    fragment: false,
    userInfo: false,
  },
  /** A redirect URI or browser origin (RFC 6749 §3.1.2): https (or loopback http), no fragment. */
  redirect: { schemes: ['https'], loopbackHttp: true, fragment: false, userInfo: false },
  /** An http(s) endpoint the server calls or names (JWKS, introspection, public base URL). */
  http: { schemes: ['http', 'https'] },
  /** An upstream origin and path prefix: no query or fragment to merge with a request's own. */
  upstream: { schemes: ['http', 'https'], query: false, fragment: false },
  /** An audience or resource indicator (RFC 8707 §2): absolute, without a fragment. */
  identifier: { schemes: ['http', 'https'], fragment: false },
  /** A PostgreSQL connection string. */
  postgres: { schemes: ['postgres', 'postgresql'], fragment: false },
  /** A Redis connection string (`rediss` for TLS). */
  redis: { schemes: ['redis', 'rediss'], fragment: false },
} as const satisfies Record<string, UrlRule>

function describeSchemes(rule: UrlRule): string {
  return rule.loopbackHttp === true
    ? `must be an absolute ${rule.schemes.join(' or ')} URL or loopback http`
    : `must be an absolute ${rule.schemes.join(' or ')} URL`
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

function hasAllowedScheme(url: URL, rule: UrlRule): boolean {
  const scheme = url.protocol.slice(0, -1)
  if (rule.schemes.includes(scheme)) return true
  return rule.loopbackHttp === true && scheme === 'http' && isLoopbackHost(url.hostname)
}

/**
 * Why a URL breaks its rule, or `undefined` when it follows it. A text that is not an absolute
 * URL and one with a scheme the rule refuses get the same problem, which names what is asked.
 * @example
 * ```ts
 * import { checkUrl, URL_RULES } from '@keybound/config-kit'
 * checkUrl('http://example.com/cb', URL_RULES.redirect) // 'must be an absolute https URL or loopback http'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-4.3
 */
export function checkUrl(text: string, rule: UrlRule): string | undefined {
  const url = parseUrl(text)
  if (url === undefined || !hasAllowedScheme(url, rule)) return describeSchemes(rule)
  // `https://a/#` parses with an empty hash: the text is asked, not only the parsed parts.
  if (rule.fragment === false && (url.hash !== '' || text.includes('#')))
    return 'must not contain a fragment'
  if (rule.query === false && (url.search !== '' || text.includes('?')))
    return 'must not contain a query'
  if (rule.userInfo === false && (url.username !== '' || url.password !== ''))
    return 'must not contain user info'
  return undefined
}
