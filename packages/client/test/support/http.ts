/**
 * Real HTTP servers on 127.0.0.1 (port 0) for the client tests, with Web-standard handlers:
 * the handler gets a `Request` and returns a `Response`, like the code under test sees them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { listen } from '@keybound/test-kit/net'

export interface LoopbackServer {
  url: string
  server: Server
  close(): Promise<void>
}

export type WebHandler = (request: Request) => Response | Promise<Response>

function toRequest(req: IncomingMessage, base: string): Request {
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(new URL(req.url ?? '/', base), {
    method: req.method ?? 'GET',
    headers,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
  } as RequestInit)
}

async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string[]> = {}
  response.headers.forEach((value, name) => {
    ;(headers[name] ??= []).push(value)
  })
  res.writeHead(response.status, headers)
  res.end(Buffer.from(await response.arrayBuffer()))
}

/** Starts a node:http server that also handles raw node requests when `raw` returns true. */
export async function startServer(
  handler: WebHandler,
  raw?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>,
): Promise<LoopbackServer> {
  let base = ''
  const server = createServer(async (req, res) => {
    try {
      if (raw !== undefined && (await raw(req, res))) return
      await sendResponse(res, await handler(toRequest(req, base)))
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(String(error))
    }
  })
  const { url, close } = await listen(server)
  base = url
  return { url, server, close }
}
