/**
 * `@keybound/server/redis`: a `ReplayStore` on Redis, so that every replica of a resource server
 * accepts a DPoP proof once (RFC 9449 §11.1). One atomic `SET key 1 NX PX ttl` per proof.
 *
 * Failure model: when Redis cannot answer (down, restarting, partitioned, too slow), the store
 * throws `ReplayStoreUnavailable` (reason `unreachable`) within `commandTimeoutMs`, the request
 * fails closed (503 `temporarily_unavailable` from `createResourceServer`), the process stays up,
 * and the store recovers by itself when Redis is back.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 * @packageDocumentation
 * @module @keybound/server/redis
 */
import {
  DPoPError,
  InvalidArgument,
  ReplayStoreUnavailable,
  type ReplayStore,
} from '@keybound/core'
import { invalidArgument } from '@keybound/core/internal'
import { createRequire } from 'node:module'
import type {
  createClient as CreateClient,
  createCluster as CreateCluster,
  RedisClientType,
  RedisClusterType,
} from 'redis'
import { replayKey } from './key.js'

const require = createRequire(import.meta.url)

export { replayKey, HASHED_KEY_LENGTH } from './key.js'

// `any` because node-redis' generics (modules, functions, scripts, RESP, type mapping) differ per
// client, and the store only calls `SET` with plain string arguments. `RedisClusterType<any, ...>`
// alone refuses a plain `createCluster()` client (its `_handleAsk` callback takes a client typed
// with the cluster's own modules), so the default cluster type is listed too.
/**
 * A node-redis v5 client the store can use: a standalone client from `createClient` (any
 * modules, scripts or RESP version) or a cluster client from `createCluster`. A cluster client
 * with extra modules, scripts or RESP 3 does not match the cluster type; cast it to
 * `RedisReplayClient`, which is safe because the store only calls `SET`.
 *
 * @example
 * ```ts
 * const client: RedisReplayClient = createCluster({ rootNodes: [{ url: 'redis://10.0.0.1:6379' }] })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export type RedisReplayClient =
  | RedisClientType<any, any, any, any, any>
  | RedisClusterType<any, any, any, any, any>
  | ReturnType<typeof CreateCluster>

/**
 * Options of {@link createRedisReplayStore}. Give `url` (the store creates, connects and owns a
 * client tuned for failing fast) or `client` (yours; you connect and close it).
 *
 * @example
 * ```ts
 * const options: RedisReplayStoreOptions = { url: process.env.REDIS_URL, commandTimeoutMs: 250 }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export interface RedisReplayStoreOptions {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`. The store owns the client it creates. */
  url?: string | undefined
  /**
   * Your client (standalone or cluster). The store does not connect or close it, but it adds an
   * `error` listener, because an `error` event without one would end the process. For fast
   * failure create it with `disableOfflineQueue: true` (cluster: in `defaults`).
   */
  client?: RedisReplayClient | undefined
  /** Prefix of every key (default `keybound:dpop:jti:`). Replicas that share proofs share it. */
  keyPrefix?: string | undefined
  /**
   * How long one check may take before it fails with `ReplayStoreUnavailable` (default 1000 ms).
   * node-redis' own command timeout stops counting once a command is written, so a Redis that
   * accepted the command and then hung would block requests forever without this.
   */
  commandTimeoutMs?: number | undefined
  /** Longest pause between reconnection attempts of the store's own client (default 2000 ms). */
  maxReconnectDelayMs?: number | undefined
  /** Called with connection errors (for logging); they are otherwise swallowed, never thrown. */
  onError?: ((error: unknown) => void) | undefined
}

/**
 * A {@link ReplayStore} on Redis, as returned by {@link createRedisReplayStore}.
 *
 * @example
 * ```ts
 * const store: RedisReplayStore = createRedisReplayStore({ url: 'redis://127.0.0.1:6379' })
 * await store.checkAndRecord(jkt, jti, 70_000) // true, then false for the same pair
 * await store.close()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export interface RedisReplayStore extends ReplayStore {
  /**
   * Atomically records `(jkt, jti)` for `ttlMs` milliseconds: `true` the first time, `false`
   * for a replay. Throws `ReplayStoreUnavailable` (reason `unreachable`) when Redis does not
   * answer within `commandTimeoutMs` or is not connected.
   */
  checkAndRecord(jkt: string, jti: string, ttlMs: number): Promise<boolean>
  /** The prefix of every key this store writes. */
  readonly keyPrefix: string
  /** The client in use (the store's own when it was given a `url`). */
  readonly client: RedisReplayClient
  /** Closes the client when the store created it; a given client is left alone. */
  close(): Promise<void>
}

const DEFAULT_KEY_PREFIX = 'keybound:dpop:jti:'
const DEFAULT_COMMAND_TIMEOUT_MS = 1000
const DEFAULT_MAX_RECONNECT_DELAY_MS = 2000

// The part of both client kinds the store uses; node-redis' overloaded generic signatures are
// narrowed to this once, at construction.
interface SetNxClient {
  set(
    key: string,
    value: string,
    options: { condition: 'NX'; expiration: { type: 'PX'; value: number } },
  ): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  readonly isOpen: boolean
  readonly isReady?: boolean
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidArgument(name, 'a positive number of milliseconds')
  }
  return value
}

function unavailable(message: string, cause?: unknown): ReplayStoreUnavailable {
  return new ReplayStoreUnavailable(message, {
    reason: 'unreachable',
    ...(cause === undefined ? {} : { cause }),
  })
}

/**
 * Exponential backoff from 50 ms, capped, with up to 100 ms of jitter so that many replicas do
 * not reconnect in lockstep after a Redis restart. Never gives up: a store that stopped
 * reconnecting would need a process restart, and the point is to recover by itself.
 */
function reconnectStrategy(maxDelayMs: number): (retries: number) => number {
  return (retries) =>
    Math.min(maxDelayMs, 50 * 2 ** Math.min(retries, 16)) + Math.floor(Math.random() * 100)
}

/**
 * node-redis is an optional peer dependency: only a store built from a `url` needs it here, and
 * loading it on first use (not at import) lets that be said with the package to install rather
 * than as Node's bare ERR_MODULE_NOT_FOUND.
 */
function loadCreateClient(): typeof CreateClient {
  try {
    return (require('redis') as { createClient: typeof CreateClient }).createClient
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error
    // No argument is at fault: a peer dependency is missing, so the message says what to install.
    throw new InvalidArgument(
      '@keybound/server/redis needs the redis package (node-redis v5): run `npm install redis@5`',
      {
        reason: 'missing peer dependency',
        details: { package: 'redis', range: '^5' },
        cause: error,
      },
    )
  }
}

/**
 * Creates a `ReplayStore` on Redis (node-redis v5) for resource servers that run as more than one
 * process: a proof accepted by one replica is a replay for all others (RFC 9449 §11.1).
 *
 * Each check is one atomic `SET <prefix><hash> 1 NX PX <ttl>`; Redis runs it as a unit, so of
 * any number of concurrent checks of the same `(jkt, jti)`, from any number of replicas, exactly
 * one sees `OK`. The key is the prefix plus a fixed-length SHA-256 of `jkt` and `jti` (see
 * {@link replayKey}), so memory per proof does not depend on the client's `jti`.
 *
 * Redis Cluster: pass a `createCluster` client. Each check touches a single key, so keys need no
 * `{…}` hash tags: every command goes to the one node owning its slot, and without tags the keys
 * spread evenly over all slots (a shared tag would put every proof on one node).
 *
 * With `url`, the store creates a client with the offline queue disabled (a check made while
 * disconnected fails at once instead of waiting for a reconnect), reconnects forever with capped
 * backoff, and connects in the background: checks fail with `ReplayStoreUnavailable` until the
 * first connection is up. With `client`, checks also fail at once while a standalone client is not
 * ready. In every case a check that takes longer than `commandTimeoutMs` fails; it may still be
 * applied by Redis later, which only ever refuses that one proof again (fail closed).
 *
 * @example
 * ```ts
 * import { createResourceServer, jwtAccessTokens } from '@keybound/server'
 * import { createRedisReplayStore } from '@keybound/server/redis'
 *
 * const replayStore = createRedisReplayStore({ url: process.env.REDIS_URL })
 * const resourceServer = createResourceServer({
 *   publicBaseUrl: 'https://api.example.com',
 *   accessTokens: jwtAccessTokens({ issuer, audience, jwksUri }),
 *   replayStore,
 * })
 * ```
 * @example With your own cluster client
 * ```ts
 * import { createCluster } from 'redis'
 *
 * const cluster = createCluster({
 *   rootNodes: [{ url: 'redis://10.0.0.1:6379' }],
 *   defaults: { disableOfflineQueue: true },
 * })
 * await cluster.connect()
 * const replayStore = createRedisReplayStore({ client: cluster, keyPrefix: 'api:dpop:' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function createRedisReplayStore(options: RedisReplayStoreOptions): RedisReplayStore {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object')
  }
  if ((options.client === undefined) === (options.url === undefined)) {
    throw invalidArgument('options', 'given exactly one of client or url')
  }
  // A bad URL is a configuration error: say so now rather than retrying it forever.
  if (options.url !== undefined && !/^rediss?:\/\/./i.test(String(options.url))) {
    throw invalidArgument('url', 'a redis:// or rediss:// URL')
  }
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX
  if (typeof keyPrefix !== 'string') throw invalidArgument('keyPrefix', 'a string')
  const commandTimeoutMs = positive(
    'commandTimeoutMs',
    options.commandTimeoutMs,
    DEFAULT_COMMAND_TIMEOUT_MS,
  )
  const maxReconnectDelayMs = positive(
    'maxReconnectDelayMs',
    options.maxReconnectDelayMs,
    DEFAULT_MAX_RECONNECT_DELAY_MS,
  )
  const onError = options.onError ?? (() => {})

  const owned = options.client === undefined
  const client: RedisReplayClient =
    options.client ??
    loadCreateClient()({
      // node-redis's own option type: the key is left out rather than set to undefined.
      ...(options.url === undefined ? {} : { url: options.url }),
      disableOfflineQueue: true,
      socket: {
        reconnectStrategy: reconnectStrategy(maxReconnectDelayMs),
        // A connection attempt to a host that does not answer is abandoned after this long.
        connectTimeout: Math.max(commandTimeoutMs, 1000),
      },
    })
  const redis = client as unknown as SetNxClient
  if (typeof redis.set !== 'function' || typeof redis.on !== 'function') {
    throw invalidArgument('client', 'a node-redis v5 client or cluster')
  }
  // Without a listener, an `error` event (connection refused, reset) would end the process.
  redis.on('error', (error) => {
    try {
      onError(error)
    } catch {
      // A failing logger must not turn a Redis outage into a crash.
    }
  })
  if (owned) {
    // Connect in the background; until it succeeds, checks fail fast. The promise only rejects
    // when the client is closed before it ever connected.
    ;(client as RedisClientType).connect().catch((error: unknown) => onError(error))
  }

  // A standalone client says when it is ready; a cluster client only whether it is open.
  const usable = (): boolean => (redis.isReady ?? redis.isOpen) === true
  let closed = false

  return {
    keyPrefix,
    client,

    async checkAndRecord(jkt: string, jti: string, ttlMs: number): Promise<boolean> {
      if (typeof jkt !== 'string') throw invalidArgument('jkt', 'a string')
      if (typeof jti !== 'string') throw invalidArgument('jti', 'a string')
      if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs))
        throw invalidArgument('ttlMs', 'a finite number')
      if (closed) throw unavailable('Redis replay store is closed')
      if (!usable()) throw unavailable('Redis replay store is not connected')
      // PX takes a positive integer; rounding up keeps the entry at least as long as the window.
      const px = Math.max(1, Math.ceil(ttlMs))
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(unavailable(`Redis did not answer within ${commandTimeoutMs} ms`)),
          commandTimeoutMs,
        )
      })
      try {
        // Promise.race subscribes to both promises, so a late rejection of `set` is handled.
        const reply = await Promise.race([
          redis.set(replayKey(keyPrefix, jkt, jti), '1', {
            condition: 'NX',
            expiration: { type: 'PX', value: px },
          }),
          timeout,
        ])
        if (reply === null) return false
        // 'OK' (or its bytes, under a type mapping). Anything else is not understood: fail closed.
        if (String(reply) === 'OK') return true
        throw unavailable('Redis answered SET NX with an unexpected reply')
      } catch (error) {
        if (error instanceof DPoPError) throw error
        throw unavailable('Redis replay store is unreachable', error)
      } finally {
        clearTimeout(timer)
      }
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (!owned || !redis.isOpen) return
      const own = client as RedisClientType
      // close() waits for pending replies; while reconnecting there are none to wait for, and
      // destroy() also stops the reconnect loop at once.
      if (own.isReady) await own.close()
      else own.destroy()
    },
  }
}
