/**
 * HTTP plumbing for the multi-replica and outage tests: a `protect`ed `node:http` server on
 * 127.0.0.1, and a keep-alive client that can have a thousand requests in flight without opening
 * a thousand sockets per server.
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { ResourceServer } from '@keybound/server'
import { protect } from '@keybound/server/node'
import { listen } from '@keybound/test-kit/net'

/** A response, read whole. */
export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One keep-alive client; `close()` it in `afterAll`. */
export interface Client {
  get(url: string, headers: Record<string, string>): Promise<Reply>
  close(): void
}

export function keepAliveClient(maxSocketsPerServer = 64): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: maxSocketsPerServer })
  return {
    get(url, headers) {
      const target = new URL(url)
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            path: `${target.pathname}${target.search}`,
            method: 'GET',
            headers,
            agent,
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('error', reject)
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            )
          },
        )
        req.on('error', reject)
        req.end()
      })
    },
    close() {
      agent.destroy()
    },
  }
}

/** A running replica: `url` is where it listens (its public URL is configured separately). */
export interface Replica {
  readonly url: string
  /** Requests the handler ran for (that is, accepted ones). */
  readonly served: number
  close(): Promise<void>
}

/**
 * Serves `GET /items` (scope `read`) behind `protect` on a fresh loopback port; the handler
 * answers 200 with the subject and the proof key's thumbprint.
 */
export async function startReplica(resourceServer: ResourceServer): Promise<Replica> {
  let served = 0
  const listener = protect(
    resourceServer,
    (_req, res, identity) => {
      served++
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ subject: identity.subject, jkt: identity.jkt }))
    },
    { scopes: ['read'] },
  )
  const server = createServer(listener)
  const { url, close } = await listen(server)
  return {
    url,
    get served() {
      return served
    },
    close,
  }
}
