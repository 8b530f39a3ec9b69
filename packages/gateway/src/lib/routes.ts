/**
 * Route matching. The gateway decides what a request may reach from its path, and the upstream
 * will read the same path again, maybe decoding or normalizing it. So a path is matched in its
 * decoded form, and anything an upstream could read as a different path (dot segments, encoded
 * slashes, backslashes, empty segments) is refused before matching: fail closed.
 *
 * Servlet containers (Tomcat, Jetty) and Spring cut a segment's `;parameters` before mapping
 * it (RFC 3986 §3.3 leaves their meaning to the scheme), so `/admin;x/secret` is their
 * `/admin/secret`, and some decode `%3B` first. Such a segment is either refused or matched
 * without its parameters, never matched as the literal `admin;x`.
 */
import type { RouteConfig } from '../config.js'

/** The result of {@link matchRoute}. */
export type RouteMatch =
  | { kind: 'route'; route: RouteConfig }
  | { kind: 'bad-path' }
  | { kind: 'no-route' }
  | { kind: 'method'; allow: string[] }

/**
 * What a `;` in a path segment (raw or as `%3B`) does: `refuse` answers 400; `strip` matches
 * the segment on its part before the `;`, as servlet containers read it.
 */
export type SemicolonPolicy = 'refuse' | 'strip'

const HEX = /^[0-9A-Fa-f]{2}$/

/**
 * The decoded segments of a request path, or `undefined` when the path could mean something
 * else to the upstream. `/a/b` → `['a', 'b']`, `/` → `['']`, `/a/` → `['a', '']`; with
 * `strip`, `/a;x/b` → `['a', 'b']`.
 */
export function decodePath(rawPath: string, semicolons: SemicolonPolicy): string[] | undefined {
  if (!rawPath.startsWith('/') || rawPath.includes('\\')) return undefined
  const raw = rawPath.slice(1).split('/')
  const segments: string[] = []
  for (let i = 0; i < raw.length; i++) {
    const segment = raw[i]!
    let decoded = segment
    if (segment.includes('%')) {
      for (let at = segment.indexOf('%'); at !== -1; at = segment.indexOf('%', at + 1))
        if (!HEX.test(segment.slice(at + 1, at + 3))) return undefined
      try {
        decoded = decodeURIComponent(segment)
      } catch {
        return undefined
      }
      // An encoded slash, backslash or NUL would split or end the path for some upstreams.
      if (/[/\\\0]/.test(decoded)) return undefined
    }
    const semicolon = decoded.indexOf(';')
    if (semicolon !== -1 && semicolons === 'refuse') return undefined
    const bare = semicolon === -1 ? decoded : decoded.slice(0, semicolon)
    // `//` is collapsed by many servers (nginx merge_slashes, some frameworks), and so is
    // `/;x/` once its parameters are cut.
    if (bare === '' && i !== raw.length - 1 && raw.length > 1) return undefined
    // Dot segments, also `..;x`, which servlet containers read as `..`.
    if (bare === '.' || bare === '..') return undefined
    segments.push(bare)
  }
  return segments
}

function matchSegments(pattern: readonly string[], path: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i]!
    if (expected === '*') return true
    const actual = path[i]
    if (actual === undefined) return false
    if (expected.startsWith(':')) {
      if (actual === '') return false
    } else if (expected !== actual) {
      return false
    }
  }
  return pattern.length === path.length
}

/**
 * Finds the first route whose pattern matches the path and whose methods include the method.
 * `prefix: /api` was compiled to `['api', '*']`, which also matches `/api` itself.
 *
 * @example
 * ```ts
 * matchRoute(config.routes, 'GET', '/items/42', 'refuse') // { kind: 'route', route }
 * ```
 */
export function matchRoute(
  routes: readonly RouteConfig[],
  method: string,
  rawPath: string,
  semicolons: SemicolonPolicy,
): RouteMatch {
  const path = decodePath(rawPath, semicolons)
  if (path === undefined) return { kind: 'bad-path' }
  let allow: Set<string> | undefined
  for (const route of routes) {
    if (!matchSegments(route.segments, path)) continue
    if (route.methods === undefined || route.methods.includes(method))
      return { kind: 'route', route }
    allow ??= new Set()
    for (const allowed of route.methods) allow.add(allowed)
  }
  return allow === undefined ? { kind: 'no-route' } : { kind: 'method', allow: [...allow] }
}
