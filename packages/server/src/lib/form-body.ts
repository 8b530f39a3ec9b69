/**
 * What the adapters that read request bodies themselves (Hono, node:http) share: whether to
 * read a form body at all, and how much of it.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.2
 */
import { invalidArgument } from '@keybound/core/internal'
import { hasFormBody } from '../credentials.js'
import type { RequestLike, ResourceServer, RouteOptions } from '../types.js'

/** Largest form-encoded body read by default (64 KiB); a larger one is answered 413. */
export const DEFAULT_MAX_FORM_BYTES = 65_536

/**
 * The `maxFormBytes` option, checked when the middleware is built.
 * @example
 * ```ts
 * checkMaxFormBytes(undefined) // 65536
 * ```
 */
export function checkMaxFormBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_FORM_BYTES
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw invalidArgument('maxFormBytes', 'a positive integer')
  return value
}

/**
 * Whether the body of `request` (built without it) must be read to decide: the resource
 * server says so, and a server without `needsFormBody` gets every form body.
 * @example
 * ```ts
 * if (readsFormBody(resourceServer, request)) request.body = await readForm(req, limit)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.2
 */
export function readsFormBody(
  resourceServer: ResourceServer,
  request: RequestLike,
  routeOptions?: Pick<RouteOptions, 'credentialsRequired'>,
): boolean {
  return resourceServer.needsFormBody?.(request, routeOptions) ?? hasFormBody(request)
}
