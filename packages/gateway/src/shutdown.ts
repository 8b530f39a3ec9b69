/**
 * Graceful shutdown of a gateway: stop accepting, let requests in flight finish within a
 * deadline, then release the upstream pool and the replay store (RFC 9449 §11.1's `jti`
 * memory, which may hold a Redis connection).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 * @packageDocumentation
 */
import type { Logger } from 'pino'
import type { GatewayServer } from './admin.js'
import type { BuiltReplayStore } from './build.js'

/**
 * What a gateway holds open, in the order it is released.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export interface GatewayResources {
  app: GatewayServer
  adminApp: GatewayServer | undefined
  upstream: { close(): Promise<void> }
  replayStore: BuiltReplayStore
  logger: Logger
  /** How long requests in flight may take before their connections are cut. */
  shutdownTimeoutMs: number
}

/**
 * Closes the public listener (draining it), then the admin listener, the upstream pool and the
 * replay store. The caller flags the gateway as closing first, so answers get
 * `Connection: close` and health says `closing`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export async function shutdownGateway(resources: GatewayResources): Promise<void> {
  const { app, adminApp } = resources
  // Connections that go idle after their last response would otherwise keep `close` waiting
  // for the keep-alive timeout.
  const drain = setInterval(() => app.server.closeIdleConnections(), 50)
  const deadline = setTimeout(() => app.server.closeAllConnections(), resources.shutdownTimeoutMs)
  try {
    await app.close()
  } finally {
    clearInterval(drain)
    clearTimeout(deadline)
  }
  // The admin listener goes last, so its health check says `closing` while requests drain.
  if (adminApp !== undefined) {
    adminApp.server.closeAllConnections()
    await adminApp.close()
  }
  await resources.upstream.close()
  await resources.replayStore.close?.()
  resources.logger.info('gateway closed')
}
