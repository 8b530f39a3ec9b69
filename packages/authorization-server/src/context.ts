/**
 * What every route needs, built once by `createAuthorizationServer`.
 * @packageDocumentation
 */
import type { NonceSource, ReplayStore } from '@keybound/core'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { ClientRegistry } from './clients/registry.js'
import type { AuthorizationServerConfig } from './config.js'
import type { EndpointLimits } from './rate-limits/endpoint-limits.js'
import type { Metrics } from './metrics.js'
import type { RequestLimits } from './rate-limits/request-limits.js'
import type { KeySet } from './keys/signing-keys.js'
import type { Database } from './storage/database.js'

/** Absolute URLs of the endpoints, derived from the issuer (never from `Host`). */
export interface EndpointUrls {
  issuer: string
  authorize: string
  login: string
  consent: string
  token: string
  par: string
  jwks: string
  introspect: string
  revoke: string
  register: string
}

/** Shared state of one server instance. */
export interface ServerContext {
  readonly config: AuthorizationServerConfig
  readonly db: Kysely<Database>
  readonly dialect: 'sqlite' | 'postgres'
  readonly clients: ClientRegistry
  readonly nonces: NonceSource
  readonly replayStore: ReplayStore
  readonly metrics: Metrics
  readonly log: FastifyBaseLogger
  /** Rate limits of `/token`, `/par` and sign-in (all checks pass when they are off). */
  readonly limits: RequestLimits
  /** Rate limits of `/authorize` (per address) and `/introspect` (per client). */
  readonly endpointLimits: EndpointLimits
  /** Current time in milliseconds. */
  now(): number
  /** Endpoint URLs; known once the issuer is (configured, or derived when listening). */
  urls(): EndpointUrls
  /** Signing keys in force (reloaded from the database periodically and after rotation). */
  keys(): KeySet
}

/**
 * The endpoint URLs under an issuer (RFC 8414 §2 metadata values).
 * @example
 * ```ts
 * endpointUrls('https://as.example.com').token // 'https://as.example.com/token'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function endpointUrls(issuer: string): EndpointUrls {
  const at = (path: string) => `${issuer}${path}`
  return {
    issuer,
    authorize: at('/authorize'),
    login: at('/authorize/login'),
    consent: at('/authorize/consent'),
    token: at('/token'),
    par: at('/par'),
    jwks: at('/jwks'),
    introspect: at('/introspect'),
    revoke: at('/revoke'),
    register: at('/register'),
  }
}
