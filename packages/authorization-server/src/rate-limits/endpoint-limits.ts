/**
 * Rate limits that keep one caller from loading the database: `GET /authorize` per address
 * (each request can store a sign-in row) and `/introspect` per authenticated client (each
 * request is a token lookup). Counted after authentication at `/introspect`, so nobody can
 * spend another client's budget by naming it. Answered with 429 and `Retry-After`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 * @packageDocumentation
 */
import type { RateLimitConfig } from '../config.js'
import { FixedWindowLimiter } from './fixed-window.js'
import { tooManyRequests } from './request-limits.js'

/** The limits of `/authorize` and `/introspect`; `check…` throw a 429 `OAuthError`. */
export interface EndpointLimits {
  /** Counts a `GET /authorize` from the address (`rateLimits.authorize`). */
  checkAuthorize(ip: string): void
  /** Counts an `/introspect` request of an authenticated client (`rateLimits.introspect`). */
  checkIntrospect(clientId: string): void
}

/**
 * Builds the limiters from `rateLimits`; with `enabled: false` every check passes.
 * @example
 * ```ts
 * const endpointLimits = createEndpointLimits(config.rateLimits)
 * endpointLimits.checkAuthorize(request.ip)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 */
export function createEndpointLimits(
  config: RateLimitConfig,
  now: () => number = Date.now,
): EndpointLimits {
  if (!config.enabled) return { checkAuthorize() {}, checkIntrospect() {} }
  const authorize = new FixedWindowLimiter(config.authorize, now)
  const introspect = new FixedWindowLimiter(config.introspect, now)
  return {
    checkAuthorize: (ip) => tooManyRequests(authorize.hit(`ip:${ip}`), 'authorization requests'),
    checkIntrospect: (clientId) =>
      tooManyRequests(introspect.hit(`client:${clientId}`), 'introspection requests'),
  }
}
