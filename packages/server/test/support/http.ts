/**
 * A tiny HTTP client over `node:http`, because tests must send what `fetch` cannot: repeated
 * `Authorization` / `DPoP` field lines, `Host` and `Proxy-Authorization` as chosen.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'

export interface SentRequest {
  method?: string
  /** Header values; an array sends one field line per item. */
  headers?: Record<string, string | string[]>
  body?: string | undefined
}

export interface Received {
  status: number
  headers: IncomingHttpHeaders
  /** Every field line, as received (to count repeated headers). */
  rawHeaders: string[]
  body: string
  json(): unknown
}

/** Sends one request and reads the whole response. */
export function send(url: string, options: SentRequest = {}): Promise<Received> {
  const target = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            json: () => JSON.parse(body),
          })
        })
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Every value of one response header, one per field line. */
export function headerLines(received: Received, name: string): string[] {
  const lines: string[] = []
  for (let i = 0; i < received.rawHeaders.length; i += 2) {
    if (received.rawHeaders[i]!.toLowerCase() === name.toLowerCase())
      lines.push(received.rawHeaders[i + 1]!)
  }
  return lines
}
