/**
 * HTTP method names as the CLI takes them.
 */

// RFC 9110 §9.3 and RFC 5789: the registered methods, all upper case.
const STANDARD_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
])

/**
 * Upper-cases a standard method typed in any case (`get` → `GET`), as fetch does for most of
 * them: method names are case-sensitive (RFC 9110 §9.1), so a proof signed for `get` would be
 * refused on the `GET` request it was meant for. Other (extension) methods are kept as typed.
 * @example
 * ```ts
 * normalizeMethod('post') // 'POST'
 * normalizeMethod('PROPFIND') // 'PROPFIND'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-9.1
 */
export function normalizeMethod(method: string): string {
  const upper = method.toUpperCase()
  return STANDARD_METHODS.has(upper) ? upper : method
}
