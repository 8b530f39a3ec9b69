/**
 * Shared by the adapters that sit on `node:http`: the request shape with repeated header lines
 * kept apart, and writing verdict headers onto a `ServerResponse`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { mergeHeaderList } from '../lib/header-list.js'
import { markLowerCaseHeaders } from '../lib/headers.js'
import type { RequestLike } from '../types.js'

/**
 * The `RequestLike` of a Node request, for code that calls `verifyRequest` itself (a proxy, a
 * router of its own). `headersDistinct` keeps every `Authorization` and `DPoP` line apart
 * (Node's `headers` silently drops repeated ones, which would hide a second token or proof), and
 * the record is marked as lower-case, so reading a header needs no walk over the names.
 *
 * @example
 * ```ts
 * import { requestLikeOf } from '@keybound/server/node'
 *
 * const verdict = await resourceServer.verifyRequest(requestLikeOf(req, req.url!), { scopes: ['read'] })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.2
 */
export function requestLikeOf(req: IncomingMessage, url: string, body?: unknown): RequestLike {
  const headers = req.headersDistinct
  markLowerCaseHeaders(headers)
  const request: RequestLike = { method: req.method ?? '', url, headers }
  if (body !== undefined) request.body = body
  return request
}

/** Where verdict headers go: a Node `ServerResponse`, or an adapter's view of its reply. */
export interface HeaderTarget {
  getHeader(name: string): string | number | readonly string[] | undefined
  setHeader(name: string, value: string): unknown
}

/**
 * Sets verdict headers, merging `Access-Control-Expose-Headers`. for-in, not `Object.entries`:
 * an accepted request usually has no headers to set, and then nothing is allocated.
 */
export function writeHeaders(headers: Record<string, string>, target: HeaderTarget): void {
  for (const name in headers) {
    const value = headers[name]!
    target.setHeader(
      name,
      name === 'Access-Control-Expose-Headers'
        ? mergeHeaderList(target.getHeader(name), value)
        : value,
    )
  }
}

/** `writeHeaders` for a plain `ServerResponse`. */
export function writeNodeHeaders(res: ServerResponse, headers: Record<string, string>): void {
  writeHeaders(headers, res)
}
