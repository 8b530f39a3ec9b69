/**
 * The page shown instead of a redirect when the redirect URI cannot be trusted (unknown client,
 * unregistered redirect URI; RFC 6749 §4.1.2.1): the error code and its description, escaped.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 * @packageDocumentation
 */
import { escapeHtml } from './escape.js'

/**
 * Renders the authorization error page.
 * @example
 * ```ts
 * reply.type('text/html; charset=utf-8').send(errorPage('invalid_request', 'unknown client'))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
export function errorPage(error: string, description: string): string {
  return `<!doctype html><meta charset="utf-8"><title>Authorization error</title>
<h1>Authorization error</h1><p><code>${escapeHtml(error)}</code>: ${escapeHtml(description)}</p>`
}
