/**
 * Merging comma-separated header lists, so that `Access-Control-Expose-Headers` set by a CORS
 * middleware keeps its names when ours are added.
 */

/**
 * `existing` plus the names of `added` it lacks (compared case-insensitively).
 * @example
 * ```ts
 * mergeHeaderList('X-Request-Id', 'WWW-Authenticate, DPoP-Nonce') // 'X-Request-Id, WWW-Authenticate, DPoP-Nonce'
 * ```
 * @see https://fetch.spec.whatwg.org/#http-access-control-expose-headers
 */
export function mergeHeaderList(
  existing: string | number | readonly string[] | undefined,
  added: string,
): string {
  const names = (
    Array.isArray(existing) ? existing.join(',') : existing === undefined ? '' : String(existing)
  )
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
  const seen = new Set(names.map((name) => name.toLowerCase()))
  for (const name of added.split(',').map((item) => item.trim())) {
    if (name !== '' && !seen.has(name.toLowerCase())) {
      names.push(name)
      seen.add(name.toLowerCase())
    }
  }
  return names.join(', ')
}
