/**
 * Escaping for the HTML the authorization server writes: every value that reaches a page goes
 * through here, in element content and in quoted attribute values alike.
 *
 * @see https://html.spec.whatwg.org/multipage/syntax.html#escapingString
 * @packageDocumentation
 */

/**
 * Escapes text for HTML element content and attribute values.
 * @example
 * ```ts
 * escapeHtml('<b>') // '&#60;b&#62;'
 * ```
 * @see https://html.spec.whatwg.org/multipage/syntax.html#escapingString
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
