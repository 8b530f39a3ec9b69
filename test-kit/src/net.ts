/**
 * Loopback listeners for tests: every test server binds 127.0.0.1 on port 0 (the kernel picks a
 * free port), so parallel test files never collide and nothing is reachable from outside.
 */
import { createServer, type Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'

/** A `node:http` or `node:https` server. */
export type Server = HttpServer | HttpsServer

/** A server listening on 127.0.0.1. */
export interface Listening {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string
  port: number
  /** Drops open connections (keep-alive ones too) and stops listening. */
  close(): Promise<void>
}

/** Starts `server` on 127.0.0.1 and a port the kernel picks. */
export async function listen(server: Server): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) }
}

/**
 * Closes `server` at once: open connections are dropped rather than waited for. A server that
 * never started (an `afterAll` after a failed `beforeAll`) is passed over.
 */
export function closeServer(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve()
  return new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound, read, released), for a child
 * process that must be told its port on the command line. In-process servers use {@link listen}.
 */
export async function freePort(): Promise<number> {
  const server = createServer()
  const { port } = await listen(server)
  await closeServer(server)
  return port
}

/** `count` distinct free ports (a port released twice in a row is asked for again). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}
