/**
 * The browser cookie of the authorization endpoint: a random id, set once, whose hash binds a
 * sign-in interaction to the browser that started it, so that a form cannot be completed from
 * another browser (RFC 6749 §10.12, cross-site request forgery).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-4.1
 * @packageDocumentation
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { randomHandle } from './crypto.js'

const BROWSER_COOKIE = 'kb_browser'
const BROWSER_ID = /^[A-Za-z0-9_-]{43}$/

function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

/**
 * The browser id the request carries, if any (not checked against anything yet).
 * @example
 * ```ts
 * const browser = readBrowserId(request)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.4
 */
export function readBrowserId(request: FastifyRequest): string | undefined {
  return readCookie(request, BROWSER_COOKIE)
}

/**
 * The browser id of the request, or a new one set as an `HttpOnly`, `SameSite=Lax` cookie
 * scoped to the issuer's path (and `Secure` on an https issuer).
 * @example
 * ```ts
 * const browser = ensureBrowserId(request, reply, ctx.urls().issuer)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-4.1
 */
export function ensureBrowserId(
  request: FastifyRequest,
  reply: FastifyReply,
  issuerUrl: string,
): string {
  const existing = readBrowserId(request)
  if (existing !== undefined && BROWSER_ID.test(existing)) return existing
  const id = randomHandle()
  const issuer = new URL(issuerUrl)
  const secure = issuer.protocol === 'https:' ? '; Secure' : ''
  reply.header(
    'Set-Cookie',
    `${BROWSER_COOKIE}=${id}; Path=${issuer.pathname.replace(/\/?$/, '/')}; HttpOnly; SameSite=Lax${secure}`,
  )
  return id
}
