/**
 * A bare `node:http` client for tests: repeated header lines stay separate, bodies may be
 * streams, and nothing is pooled, so each call is one fresh connection.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'

export interface SendOptions {
  method?: string
  /** Pairs, so that a header can be sent twice. */
  headers?: Array<[string, string]> | Record<string, string>
  body?: string | Buffer | Readable
}

export interface Received {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
}

/** Sends one request and resolves with the whole response. */
export async function send(url: string, options: SendOptions = {}): Promise<Received> {
  const response = await open(url, options)
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    body,
    text: body.toString('utf8'),
  }
}

/** Sends one request and resolves with the response as soon as its headers arrive. */
export function open(url: string, options: SendOptions = {}): Promise<IncomingMessage> {
  const given = Array.isArray(options.headers)
    ? options.headers
    : Object.entries(options.headers ?? {})
  // Node adds no `Host` when headers come as a raw list.
  const pairs = given.some(([name]) => name.toLowerCase() === 'host')
    ? given
    : [['host', new URL(url).host], ...given]
  return new Promise((resolve, reject) => {
    // The path goes out exactly as written: a WHATWG URL would resolve `..` and `%2e%2e` first.
    const { hostname, port } = new URL(url)
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2))
    const request = httpRequest(
      {
        hostname,
        port,
        path,
        method: options.method ?? 'GET',
        agent: false,
        headers: pairs.flat(),
      },
      resolve,
    )
    request.on('error', reject)
    const body = options.body
    if (body === undefined) request.end()
    else if (typeof body === 'string' || Buffer.isBuffer(body)) request.end(body)
    else body.pipe(request)
  })
}
