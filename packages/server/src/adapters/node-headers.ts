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
 * router of its own). Every `Authorization` and `DPoP` line stays apart: Node's `headers` joins
 * or silently drops repeated lines (which would hide a second token or proof), so when any
 * header name repeats, `headersDistinct` (one array per name) is read instead. Otherwise the two
 * hold the same values and `headers`, which a framework has usually built already, is taken, so
 * Node builds no second record per request. The record is marked as lower-case, so reading a
 * header needs no walk over the names.
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
  const headers = headersOf(req)
  markLowerCaseHeaders(headers)
  const request: RequestLike = { method: req.method ?? '', url, headers }
  if (body !== undefined) request.body = body
  return request
}

/**
 * `req.headers` when every raw field line has a name of its own, else `req.headersDistinct`.
 * Node adds one own property to `headers` per distinct lower-cased name, so fewer own names
 * than lines means some name repeated (in any case). Only own names are counted: an enumerable
 * property inherited from a polluted prototype must not make up for a repeated line.
 * Code that rewrites a value in `req.headers` before this runs is then seen; code that adds or
 * deletes a name makes the counts differ, and the raw lines are read as before.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.3
 */
export function headersOf(
  req: IncomingMessage,
): IncomingMessage['headers'] | IncomingMessage['headersDistinct'] {
  const headers = req.headers
  let names = 0
  // for-in walks the names without building an array of them.
  for (const name in headers) if (Object.hasOwn(headers, name)) names++
  return names * 2 === req.rawHeaders.length ? headers : req.headersDistinct
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
