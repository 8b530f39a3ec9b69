/**
 * Sends a sign-in or consent page with the headers every form page needs: `no-store`, no
 * framing (clickjacking, RFC 6749 §10.13) and the page's Content-Security-Policy.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.13
 * @packageDocumentation
 */
import type { FastifyReply } from 'fastify'
import { setNoStore } from '../http/wire.js'
import {
  consentPage,
  formPagePolicy,
  loginPage,
  type ConsentPageInput,
  type LoginPageInput,
} from './page.js'

function sendFormPage(
  reply: FastifyReply,
  html: string,
  redirectUri: string,
  status: number,
): FastifyReply {
  setNoStore(reply)
  reply
    .header('X-Frame-Options', 'DENY')
    .header('Content-Security-Policy', formPagePolicy(redirectUri))
  return reply.code(status).type('text/html; charset=utf-8').send(html)
}

/**
 * Sends the sign-in page: 200, or 401 when it repeats after a failed sign-in (`error` set).
 * `redirectUri` is where the form may lead (the CSP's `form-action`).
 * @example
 * ```ts
 * return sendLoginPage(reply, { clientName, issuer, action, interaction }, redirectUri)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function sendLoginPage(
  reply: FastifyReply,
  input: LoginPageInput,
  redirectUri: string,
): FastifyReply {
  return sendFormPage(reply, loginPage(input), redirectUri, input.error === undefined ? 200 : 401)
}

/**
 * Sends the consent page.
 * @example
 * ```ts
 * return sendConsentPage(reply, { clientName, issuer, action, interaction, scopes }, redirectUri)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function sendConsentPage(
  reply: FastifyReply,
  input: ConsentPageInput,
  redirectUri: string,
): FastifyReply {
  return sendFormPage(reply, consentPage(input), redirectUri, 200)
}
