/**
 * The API behind the gateway in tests: a plain `node:http` server on loopback that records
 * every request it receives (method, target, headers, body size and hash), so that tests can
 * show what reached it and, above all, what did not.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { listen } from '@keybound/test-kit/net'

export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly bytes: number
  readonly sha256: string
}

/** What a `/flood` response got to do. */
export interface FloodState {
  /** Bytes the upstream could hand to its socket (it waits for `drain`, as a good server does). */
  written: number
  /** `finished` when all of it went out, `cut` when the connection closed before that. */
  ended: Promise<'finished' | 'cut'>
}

export interface TestUpstream {
  readonly url: string
  readonly port: number
  readonly received: ReceivedRequest[]
  /** Requests whose headers arrived (counted before the body is read). */
  hits(): number
  /** Resolves once the upstream has read at least `bytes` of the current request body. */
  bytesSeen(bytes: number): Promise<void>
  /** Lets a `/stream` response send its remaining chunks. */
  releaseStream(): void
  /** The latest `/flood` response: bytes written so far, and how it ended. */
  readonly flood: FloodState
  close(): Promise<void>
}

/**
 * Paths: `/slow?ms=N` answers after N ms; `/stream` sends one chunk, waits for
 * `releaseStream()`, then sends the rest; `/flood?mb=N` sends N MB as fast as its socket takes
 * them; `/hop` answers with hop-by-hop headers; `/public/own-cors` with CORS headers of its own; anything else answers 200 with a JSON summary of
 * what arrived.
 */
export async function startUpstream(): Promise<TestUpstream> {
  const received: ReceivedRequest[] = []
  let hits = 0
  let seen = 0
  let seenWaiters: Array<{ bytes: number; resolve: () => void }> = []
  let release: (() => void) | undefined
  let released = new Promise<void>((resolve) => (release = resolve))

  const flood: FloodState = { written: 0, ended: Promise.resolve('finished') }
  const sockets = new Set<import('node:net').Socket>()
  const server: Server = createServer((req, res) => {
    hits++
    seen = 0
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      seen = bytes
      hash.update(chunk)
      seenWaiters = seenWaiters.filter((waiter) =>
        waiter.bytes <= seen ? (waiter.resolve(), false) : true,
      )
    })
    req.on('end', () => {
      const record = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bytes,
        sha256: hash.digest('hex'),
      }
      received.push(record)
      void respond(req.url ?? '/', res, record)
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  async function respond(url: string, res: ServerResponse, record: ReceivedRequest): Promise<void> {
    const { pathname, searchParams } = new URL(url, 'http://upstream')
    if (pathname === '/slow') {
      await new Promise((resolve) => setTimeout(resolve, Number(searchParams.get('ms') ?? 500)))
      res.writeHead(200, { 'content-type': 'text/plain' }).end('slow done')
    } else if (pathname === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first chunk\n')
      await released
      released = new Promise<void>((resolve) => (release = resolve))
      for (let i = 0; i < 3; i++) res.write(`chunk ${i}\n`)
      res.end('last\n')
    } else if (pathname === '/flood') {
      sendFlood(res, Number(searchParams.get('mb') ?? 1))
    } else if (pathname === '/public/own-cors') {
      // An upstream that grants CORS itself, more widely than the gateway's setting.
      res.writeHead(200, {
        'access-control-allow-origin': '*',
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'X-Internal',
        vary: 'Accept-Encoding',
      })
      res.end('own cors')
    } else if (pathname === '/hop') {
      res.writeHead(200, {
        connection: 'x-upstream-hop',
        'x-upstream-hop': 'secret',
        'keep-alive': 'timeout=5',
        'x-kept': 'yes',
      })
      res.end('hop')
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' })
      res.end(
        JSON.stringify({
          method: record.method,
          url: record.url,
          bytes: record.bytes,
          sha256: record.sha256,
        }),
      )
    }
  }

  function sendFlood(res: ServerResponse, megabytes: number): void {
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const total = megabytes * 1024 * 1024
    flood.written = 0
    flood.ended = new Promise((resolve) => {
      res.once('close', () => resolve(flood.written >= total ? 'finished' : 'cut'))
    })
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
    const pump = (): void => {
      while (flood.written < total) {
        flood.written += chunk.length
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
  }

  const { url, port } = await listen(server)
  return {
    url,
    port,
    received,
    hits: () => hits,
    bytesSeen: (bytes) =>
      new Promise<void>((resolve) =>
        seen >= bytes ? resolve() : seenWaiters.push({ bytes, resolve }),
      ),
    releaseStream: () => release?.(),
    flood,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
