/** URL helpers shared by the DPoP fetch and the token client. */
import { invalidArgument, isLoopbackHost } from '@keybound/core/internal'
import { InsecureRequest } from '../errors.js'

/** Parses an absolute URL, or throws core's `InvalidArgument` naming what it was for. */
export function parseUrl(value: string | URL, what: string, base?: string): URL {
  try {
    return new URL(value, base)
  } catch (cause) {
    throw invalidArgument(what, 'a valid URL', { cause })
  }
}

/**
 * Refuses plain `http:` unless the host is loopback or the caller opted in (RFC 9449 §2: "DPoP
 * … MUST always be used in conjunction with HTTPS"). Only `http:` and `https:` are allowed.
 */
export function assertSecureUrl(url: URL, allowInsecureHttp: boolean): void {
  if (url.protocol === 'https:') return
  if (url.protocol !== 'http:')
    throw new InsecureRequest(`"${url.protocol}" URLs cannot carry DPoP proofs`)
  if (allowInsecureHttp || isLoopbackHost(url.hostname)) return
  throw new InsecureRequest(`refusing to send a DPoP proof or token to plain http://${url.host}`, {
    reason: 'http',
  })
}
