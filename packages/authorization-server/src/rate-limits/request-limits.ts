/**
 * The rate limits of the authorization server: `/token` and `/par` per authenticated client,
 * failed client authentications per client id and per address, failed sign-ins per username
 * and per address. A refused request gets `429` with `Retry-After` (RFC 6585 §4) before any
 * secret is checked, so a limited guesser learns nothing more.
 *
 * Attempts are counted before the secret is checked and refunded when they turn out not to
 * count, so that concurrency cannot get more guesses checked than the limit allows. Addresses
 * are the real client addresses when the server runs behind a trusted proxy (`trustProxy`).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.10
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 * @packageDocumentation
 */
import type { RateLimitConfig } from '../config.js'
import { FixedWindowLimiter, type RateDecision } from './fixed-window.js'
import { OAuthError } from '../http/wire.js'

/** Endpoints with a per-client request budget. */
export type BudgetedEndpoint = 'token' | 'par'

/** A counted attempt: say how it ended so that its count is kept or given back. */
export interface Attempt {
  /** The secret was right: the attempt is not a failure. */
  succeeded(): void
  /** The secret was wrong: the attempt stays counted as a failure. */
  failed(): void
  /** The check could not be made (e.g. storage unavailable): nothing is counted. */
  aborted(): void
}

/**
 * The server's limiters. `begin…` throw an {@link OAuthError} with status 429 and `retryAfter`.
 *
 * @example
 * ```ts
 * const attempt = ctx.limits.beginLogin(username, request.ip)
 * if (await verifyPassword(password, hash)) attempt.succeeded()
 * else attempt.failed()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4
 */
export interface RequestLimits {
  /**
   * Before a client's credentials are checked: refuses an address with too many failed client
   * authentications, a client id with too many (unless the address authenticated as that client
   * before), and a client over its budget at `endpoint`; counts the request.
   */
  beginClientAuthentication(
    endpoint: BudgetedEndpoint | undefined,
    clientId: string,
    ip: string,
  ): Attempt
  /** Before a password is checked: refuses, or counts a sign-in against the username and the address. */
  beginLogin(username: string | undefined, ip: string): Attempt
}

const NO_ATTEMPT: Attempt = { succeeded() {}, failed() {}, aborted() {} }

const NO_LIMITS: RequestLimits = {
  beginClientAuthentication: () => NO_ATTEMPT,
  beginLogin: () => NO_ATTEMPT,
}

const BUDGET_NAMES: Record<BudgetedEndpoint, string> = {
  token: 'token requests',
  par: 'pushed authorization requests',
}

// How long an address that authenticated as a client stays exempt from that client's failure
// limit: long enough to cover a service's refresh cycle, short enough to forget moved hosts.
const KNOWN_ADDRESS_SECONDS = 86_400

function tooManyRequests(decision: RateDecision, what: string): void {
  if (decision.allowed) return
  throw new OAuthError('temporarily_unavailable', `too many ${what}, try again later`, {
    status: 429,
    retryAfter: decision.retryAfter,
  })
}

/** One count to take: the limiter, the key, and what to call a refusal. */
type Count = [limiter: FixedWindowLimiter, key: string, what: string]

/**
 * Takes every count, one after the other; when one is refused, the counts already taken are
 * given back and the refusal is thrown, so that a refused request costs no budget.
 */
function countAll(counts: Count[]): void {
  counts.forEach(([limiter, key, what], i) => {
    const decision = limiter.hit(key)
    if (decision.allowed) return
    for (const [taken, takenKey] of counts.slice(0, i + 1)) taken.refund(takenKey)
    tooManyRequests(decision, what)
  })
}

function refundAll(counts: Count[]): void {
  for (const [limiter, key] of counts) limiter.refund(key)
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
  const budgets: Record<BudgetedEndpoint, FixedWindowLimiter> = {
    token: new FixedWindowLimiter(config.token, now),
    par: new FixedWindowLimiter(config.par, now),
  }
  const clientFailures = new FixedWindowLimiter(config.clientAuthFailures, now)
  const clientFailuresIp = new FixedWindowLimiter(config.clientAuthFailuresIp, now)
  const knownAddresses = new FixedWindowLimiter(
    { max: 1, windowSeconds: KNOWN_ADDRESS_SECONDS },
    now,
  )
  const login = new FixedWindowLimiter(config.login, now)
  const loginIp = new FixedWindowLimiter(config.loginIp, now)
  // Usernames are compared as typed at sign-in; lower-casing here stops `Alice`/`alice` from
  // doubling a guesser's budget.
  const userKey = (username: string | undefined) => `user:${(username ?? '').toLowerCase()}`
  return {
    beginClientAuthentication(endpoint, clientId, ip) {
      const client = `client:${clientId}`
      const known = `${client} ip:${ip}`
      const isKnown = knownAddresses.has(known)
      // Counted as failures up front and refunded on success: concurrent guesses cannot get more
      // secrets checked than the limits allow. A guesser naming a client from many addresses is
      // stopped by the per-client count; the client itself, from an address it authenticated
      // from before, is exempt from that count, so others' failures cannot starve it.
      const failures: Count[] = [[clientFailuresIp, `ip:${ip}`, 'failed client authentications']]
      if (!isKnown) failures.push([clientFailures, client, 'failed client authentications'])
      const budget: Count[] =
        endpoint === undefined ? [] : [[budgets[endpoint], client, BUDGET_NAMES[endpoint]]]
      countAll([...failures, ...budget])
      return {
        succeeded() {
          refundAll(failures)
          knownAddresses.hit(known)
        },
        failed() {
          refundAll(budget)
          if (isKnown) clientFailures.hit(client)
        },
        aborted: () => refundAll([...failures, ...budget]),
      }
    },
    beginLogin(username, ip) {
      const counts: Count[] = [
        [loginIp, `ip:${ip}`, 'failed sign-ins'],
        [login, userKey(username), 'failed sign-ins'],
      ]
      countAll(counts)
      const refund = () => refundAll(counts)
      return { succeeded: refund, failed() {}, aborted: refund }
    },
  }
}

// One wire shape for every 429 of this server: the endpoint limits (endpoint-limits.ts) use it.
export { tooManyRequests }
