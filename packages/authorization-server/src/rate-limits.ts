/**
 * The rate limits of the authorization server: `/token` and `/par` per client, failed sign-ins
 * per username and per address. A refused request gets `429` with `Retry-After` (RFC 6585 §4)
 * before any secret is checked, so a limited guesser learns nothing more.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.10
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 * @packageDocumentation
 */
import type { RateLimitConfig } from './config.js'
import { FixedWindowLimiter, type RateDecision } from './lib/rate-limit.js'
import { OAuthError } from './wire.js'

/** What a limited request looks like to the limiter: who it claims to be and where it is from. */
export interface LimitedRequest {
  readonly ip: string
  readonly headers: Record<string, string | string[] | undefined>
  readonly body?: unknown
}

/**
 * The server's limiters. `check…` throw an {@link OAuthError} with status 429 and `retryAfter`.
 *
 * @example
 * ```ts
 * const limits = createRequestLimits(config.rateLimits)
 * app.post('/token', async (request, reply) => {
 *   limits.checkToken(request)
 *   return handleToken(ctx, request, reply)
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 */
export interface RequestLimits {
  /** Counts a `/token` request of the client it names. */
  checkToken(request: LimitedRequest): void
  /** Counts a `/par` request of the client it names. */
  checkPar(request: LimitedRequest): void
  /** Refuses a sign-in when the username or the address has failed too often. */
  checkLogin(username: string | undefined, ip: string): void
  /** Counts a failed sign-in against the username and the address. */
  loginFailed(username: string | undefined, ip: string): void
}

const NO_LIMITS: RequestLimits = {
  checkToken() {},
  checkPar() {},
  checkLogin() {},
  loginFailed() {},
}

function tooManyRequests(decision: RateDecision, what: string): void {
  if (decision.allowed) return
  throw new OAuthError('temporarily_unavailable', `too many ${what}, try again later`, {
    status: 429,
    retryAfter: decision.retryAfter,
  })
}

// The client a request names: HTTP Basic (RFC 6749 §2.3.1) or the `client_id` parameter. It is
// not authenticated yet; that is fine, a guesser spends the named client's budget either way.
function clientKeyOf(request: LimitedRequest): string {
  const authorization = request.headers.authorization
  if (typeof authorization === 'string' && /^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0) return `client:${decoded.slice(0, colon)}`
  }
  const body = request.body
  if (typeof body === 'object' && body !== null) {
    const clientId = (body as Record<string, unknown>).client_id
    if (typeof clientId === 'string' && clientId !== '') return `client:${clientId}`
  }
  return `ip:${request.ip}`
}

/**
 * Builds the limiters from the config; with `enabled: false` every check passes.
 * @example
 * ```ts
 * const limits = createRequestLimits({ enabled: true, token: { max: 100, windowSeconds: 60 }, … })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 */
export function createRequestLimits(
  config: RateLimitConfig,
  now: () => number = Date.now,
): RequestLimits {
  if (!config.enabled) return NO_LIMITS
  const token = new FixedWindowLimiter(config.token, now)
  const par = new FixedWindowLimiter(config.par, now)
  const login = new FixedWindowLimiter(config.login, now)
  const loginIp = new FixedWindowLimiter(config.loginIp, now)
  // Usernames are compared as typed at sign-in; lower-casing here stops `Alice`/`alice` from
  // doubling a guesser's budget.
  const userKey = (username: string | undefined) => `user:${(username ?? '').toLowerCase()}`
  return {
    checkToken: (request) => tooManyRequests(token.hit(clientKeyOf(request)), 'token requests'),
    checkPar: (request) =>
      tooManyRequests(par.hit(clientKeyOf(request)), 'pushed authorization requests'),
    checkLogin(username, ip) {
      tooManyRequests(loginIp.peek(`ip:${ip}`), 'failed sign-ins')
      tooManyRequests(login.peek(userKey(username)), 'failed sign-ins')
    },
    loginFailed(username, ip) {
      loginIp.hit(`ip:${ip}`)
      login.hit(userKey(username))
    },
  }
}

// One wire shape for every 429 of this server: the endpoint limits (endpoint-limits.ts) use it too.
export { tooManyRequests }
