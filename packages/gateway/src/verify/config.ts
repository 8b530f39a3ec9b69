/**
 * The `verify` section of the gateway config: what only the verify service (`keybound authz`)
 * reads. Everything else (tokens, routes, scopes, replay store, nonces, identity headers,
 * limits) is the gateway's own config, read by the same loader.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import type { Checker } from '@keybound/config-kit'

/**
 * The `verify` section as written in the config file.
 *
 * @example
 * ```yaml
 * verify:
 *   trustedProxies: [127.0.0.1, "::1"]
 *   upstreamAuthorization: none
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface VerifyInput {
  /**
   * Addresses of the proxies allowed to send check requests (default `127.0.0.1` and `::1`).
   * Only their forwarded method and URI are read; a check from any other address is refused.
   */
  trustedProxies?: string[]
  /**
   * `none` (default): the allow answer carries no `Authorization`, so the proxy removes the
   * client's. `bearer`: it carries `Authorization: Bearer <token>` for legacy upstreams; the
   * upstream then holds a token that works without the client's key wherever Bearer is taken.
   */
  upstreamAuthorization?: 'none' | 'bearer'
  /**
   * Also serve Envoy's gRPC `envoy.service.auth.v3.Authorization/Check` here (default: off),
   * e.g. `{ port: 9001 }`; the host defaults to `127.0.0.1`. Needs `@grpc/grpc-js` and
   * `@grpc/proto-loader` installed.
   */
  grpc?: { host?: string; port?: number }
}

/** The `verify` section after validation, with its defaults. */
export interface VerifyConfig {
  /** Normalized addresses (IPv4-mapped IPv6 read as IPv4). */
  readonly trustedProxies: readonly string[]
  readonly upstreamAuthorization: 'none' | 'bearer'
  /** Where the gRPC Check service listens, when it is on. */
  readonly grpc?: { readonly host: string; readonly port: number }
}

/** Loopback only: the verify service is meant to sit next to its proxy. */
const DEFAULT_TRUSTED_PROXIES = ['127.0.0.1', '::1'] as const

/**
 * A peer address as compared with `trustedProxies`: a dual-stack listener reports IPv4 peers as
 * `::ffff:a.b.c.d`, which is the same peer as `a.b.c.d`.
 * @example
 * ```ts
 * normalizeAddress('::ffff:127.0.0.1') // '127.0.0.1'
 * ```
 */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase()
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower
}

function checkGrpc(checker: Checker, value: unknown): VerifyConfig['grpc'] {
  if (value === undefined) return undefined
  const grpc = checker.object(value, 'verify.grpc')
  if (grpc === undefined) return undefined
  return {
    host: checker.string(grpc.host, 'verify.grpc.host') ?? '127.0.0.1',
    port: checker.integer(grpc.port, 'verify.grpc.port', 9001, 0, 65_535),
  }
}

/**
 * Validates the `verify` section; every bad field is named on `checker`.
 * @example
 * ```ts
 * const verify = checkVerify(checker, root.verify)
 * ```
 */
export function checkVerify(checker: Checker, value: unknown): VerifyConfig {
  const verify = checker.optionalObject(value, 'verify')
  const listed = checker.strings(verify.trustedProxies, 'verify.trustedProxies', {
    nonEmpty: true,
    accepts: (address) => isIP(address) !== 0,
    problem: 'must be an IP address (no names, no ranges)',
  })
  const grpc = checkGrpc(checker, verify.grpc)
  return {
    ...(grpc === undefined ? {} : { grpc }),
    trustedProxies: (listed ?? DEFAULT_TRUSTED_PROXIES).map(normalizeAddress),
    upstreamAuthorization: checker.oneOf(
      verify.upstreamAuthorization,
      'verify.upstreamAuthorization',
      ['none', 'bearer'],
      'none',
    ),
  }
}
