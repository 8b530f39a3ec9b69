/**
 * The builders a gateway and a verify service share: the logger, the access-token validator,
 * the replay store and the resource server that checks requests (RFC 9449 §7). Each turns a
 * resolved config into one part; none of them listens or handles a request.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import { MemoryReplayStore, type ReplayStore } from '@keybound/core'
import {
  createResourceServer,
  introspectedAccessTokens,
  jwtAccessTokens,
  type AccessTokenValidator,
  type ResourceServer,
} from '@keybound/server'
import { createRedisReplayStore, type RedisReplayStore } from '@keybound/server/redis'
import type { GatewayConfig } from './config.js'

/**
 * Options of `createGateway` that do not belong in a config file.
 *
 * @example
 * ```ts
 * createGateway(config, { logStream: pino.destination('/var/log/keybound.log') })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface GatewayOptions {
  /** Where environment variables named by the config are read (default `process.env`). */
  env?: NodeJS.ProcessEnv
  /** A pino logger to use instead of one built from `config.log`. */
  logger?: Logger
  /** Where the built logger writes (default stdout). */
  logStream?: DestinationStream
}

/**
 * A replay store as the builders make it: RFC 9449 §11.1's `jti` memory, closable when it holds
 * a connection.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export type BuiltReplayStore = ReplayStore & { close?(): Promise<void> }

/**
 * Whether `config` is already resolved (see `resolveGatewayConfig`), not the file's shape.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function isResolved(config: unknown): config is GatewayConfig {
  return (
    typeof config === 'object' &&
    config !== null &&
    (config as GatewayConfig).upstream?.url instanceof URL
  )
}

/**
 * The logger of a gateway or verify service: the given one, or pino with secrets redacted.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function buildLogger(config: GatewayConfig, options: GatewayOptions): Logger {
  if (options.logger !== undefined) return options.logger
  return pino(
    {
      level: config.log.level,
      base: { service: 'keybound-gateway' },
      // Defence in depth: the gateway never logs headers, but a plugin or a future change might.
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.dpop',
          'headers.authorization',
          'headers.dpop',
        ],
        censor: '[redacted]',
      },
    },
    options.logStream,
  )
}

function buildAccessTokens(tokens: GatewayConfig['tokens']): AccessTokenValidator {
  if (tokens.kind === 'jwt')
    return jwtAccessTokens({
      issuer: tokens.issuer,
      audience: tokens.audience,
      profile: tokens.profile,
      ...(tokens.jwksUri === undefined ? {} : { jwksUri: tokens.jwksUri }),
    })
  return introspectedAccessTokens({
    profile: tokens.profile,
    endpoint: tokens.endpoint,
    clientId: tokens.clientId,
    clientSecret: tokens.clientSecret,
    audience: tokens.audience,
  })
}

/**
 * The replay store the config names (memory, or Redis with its errors logged without URL).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function buildReplayStore(config: GatewayConfig, logger: Logger): BuiltReplayStore {
  const replay = config.replay
  if (replay.kind === 'memory')
    return new MemoryReplayStore(
      replay.maxEntries === undefined ? {} : { maxEntries: replay.maxEntries },
    )
  return createRedisReplayStore({
    url: replay.url,
    keyPrefix: replay.keyPrefix,
    // Only the error's code and message: a Redis URL in a message could carry a password.
    onError: (error) =>
      logger.warn(
        { code: (error as { code?: unknown })?.code },
        'redis replay store connection error',
      ),
  })
}

/**
 * Whether the replay store can answer now. A memory store always can; a Redis one only while
 * connected, and every protected request is refused (503) while it is not.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function isReplayStoreReady(config: GatewayConfig, replayStore: BuiltReplayStore): boolean {
  if (config.replay.kind !== 'redis') return true
  return (replayStore as RedisReplayStore).client.isReady !== false
}

/**
 * Waits (at most `timeoutMs`) for a Redis replay store to connect, so a fresh instance does not
 * answer its first requests with 503. Resolves with whether it is ready; past the wait the
 * caller starts anyway and its health check reports the store as unavailable.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export async function waitForReplayStore(
  config: GatewayConfig,
  replayStore: BuiltReplayStore,
  timeoutMs = 5_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!isReplayStoreReady(config, replayStore) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
  return isReplayStoreReady(config, replayStore)
}

/**
 * The resource server a gateway or verify service checks requests with (RFC 9449 §7). The
 * verify service passes `trustProxy: false`: it rebuilds the URL from its proxy's check itself.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function buildResourceServer(
  settings: GatewayConfig,
  replayStore: ReplayStore,
  trustProxy: boolean = settings.trustProxy,
): ResourceServer {
  return createResourceServer({
    publicBaseUrl: settings.publicBaseUrl,
    trustProxy,
    accessTokens: buildAccessTokens(settings.tokens),
    replayStore,
    allowBearer: settings.allowBearer,
    ...(settings.nonces === false ? {} : { nonces: settings.nonces }),
    ...(settings.algorithms === undefined ? {} : { algorithms: settings.algorithms }),
    ...(settings.resourceMetadata === undefined
      ? {}
      : { resourceMetadataUrl: settings.resourceMetadata.url }),
  })
}
