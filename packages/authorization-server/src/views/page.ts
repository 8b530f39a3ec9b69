/**
 * The HTML pages a person sees at the authorization endpoint: sign-in and consent. One small
 * stylesheet, inline and allowed by its SHA-256 hash in the page's Content-Security-Policy, so
 * the pages load nothing from anywhere and the policy never needs `'unsafe-inline'`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.w3.org/TR/CSP3/#external-hash
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { escapeHtml } from './escape.js'

// The demo page's palette and sizes, so the sign-in step looks like part of the same product.
// Contrast of every text colour on its background is at least 4.5:1 (WCAG 2.1 AA).
const PAGE_STYLE = [
  ':root{color-scheme:light;color:#1b1f24;background:#f6f8fa;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}',
  '*{box-sizing:border-box}',
  'body{margin:0;padding:3rem 1rem}',
  'main{max-width:26rem;margin:0 auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.5rem}',
  '.issuer{margin:0 0 1rem;color:#57606a;font-size:.875rem;overflow-wrap:anywhere}',
  'h1{font-size:1.5rem;margin:0 0 .25rem}',
  'p{margin:0 0 1rem}',
  'label{display:block;font-weight:600;margin:.9rem 0 .25rem}',
  'input{display:block;width:100%;font:inherit;min-height:2.5rem;padding:.4rem .6rem;border:1px solid #57606a;border-radius:6px}',
  '.actions{display:flex;gap:.5rem;margin-top:1.25rem}',
  'button{flex:1;font:inherit;font-weight:600;min-height:2.5rem;padding:.4rem .9rem;border:1px solid #0b5cad;border-radius:6px;background:#0b5cad;color:#fff;cursor:pointer}',
  'button.secondary{background:#fff;color:#0b5cad}',
  ':focus-visible{outline:3px solid #f2a900;outline-offset:2px}',
  '.error{color:#a40e26;background:#fff0f1;border:1px solid #a40e26;border-radius:6px;padding:.5rem .75rem}',
  '.scopes{padding-left:1.25rem}',
  'code{font:.875rem/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}',
].join('\n')

// CSP3 hash source: base64 of the SHA-256 of the <style> element's exact text.
const STYLE_SOURCE = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`

/** What a sign-in page shows. Every string is plain text; the page escapes it. */
export interface LoginPageInput {
  /** The client's name (or id) the user signs in for. */
  clientName: string
  /** The issuer identifier, shown so the user can see whose page this is. */
  issuer: string
  /** Where the form posts. */
  action: string
  /** The one-time interaction handle, sent back in a hidden field. */
  interaction: string
  /** A message for a failed attempt. */
  error?: string
}

/** What a consent page shows. Every string is plain text; the page escapes it. */
export interface ConsentPageInput {
  clientName: string
  issuer: string
  action: string
  interaction: string
  /** The scope tokens asked for. */
  scopes: readonly string[]
}

function renderPage(title: string, issuer: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head>
<body><main><p class="issuer">${escapeHtml(issuer)}</p>${body}</main></body></html>`
}

function hiddenInteraction(interaction: string): string {
  return `<input type="hidden" name="interaction" value="${escapeHtml(interaction)}">`
}

/**
 * The Content-Security-Policy of the sign-in and consent pages: nothing may load, the page's
 * own stylesheet is allowed by its hash, and forms may post only to this server.
 *
 * Browsers apply `form-action` to the redirects that follow a form post too (CSP3 §6.3.1), so
 * the client's redirect URI must be allowed next to `'self'`, or the code never reaches the
 * client.
 * @example
 * ```ts
 * reply.header('Content-Security-Policy', formPagePolicy('https://app.example.com/cb'))
 * ```
 * @see https://www.w3.org/TR/CSP3/#directive-form-action
 */
export function formPagePolicy(redirectUri: string): string {
  return [
    "default-src 'none'",
    `style-src ${STYLE_SOURCE}`,
    `form-action 'self' ${new URL(redirectUri).origin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ')
}

/**
 * The sign-in page (username and password), with the error of a failed attempt when there is
 * one (announced to screen readers).
 * @example
 * ```ts
 * reply.type('text/html; charset=utf-8').send(loginPage({ clientName: 'Notes', issuer, action, interaction }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function loginPage(input: LoginPageInput): string {
  const error =
    input.error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(input.error)}</p>`
  return renderPage(
    'Sign in',
    input.issuer,
    `<h1>Sign in</h1><p>to continue to <strong>${escapeHtml(input.clientName)}</strong></p>${error}
<form method="post" action="${escapeHtml(input.action)}">${hiddenInteraction(input.interaction)}
<label for="username">Username</label><input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit">Sign in</button></div></form>`,
  )
}

/**
 * The consent page of a third-party client: what it asks for, Allow or Deny.
 * @example
 * ```ts
 * reply.type('text/html; charset=utf-8').send(consentPage({ clientName, issuer, action, interaction, scopes: ['read'] }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function consentPage(input: ConsentPageInput): string {
  const scopes = input.scopes.map((token) => `<li><code>${escapeHtml(token)}</code></li>`).join('')
  const list = scopes === '' ? '' : `<ul class="scopes">${scopes}</ul>`
  return renderPage(
    'Allow access',
    input.issuer,
    `<h1>Allow access?</h1><p><strong>${escapeHtml(input.clientName)}</strong> asks for access to your account${scopes === '' ? '.' : ':'}</p>${list}
<form method="post" action="${escapeHtml(input.action)}">${hiddenInteraction(input.interaction)}
<div class="actions"><button type="submit" name="decision" value="allow">Allow</button><button type="submit" class="secondary" name="decision" value="deny">Deny</button></div></form>`,
  )
}
