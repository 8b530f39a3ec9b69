/**
 * What every framework adapter does with its options: split the route's requirements (checked
 * once, at start-up) from the adapter's own settings.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
import { InvalidArgument } from '@keybound/core'
import { checkRouteOptions, type CheckedRouteOptions } from '../route-options.js'
import type { AdapterOptions, RejectionMode, RouteOptions } from '../types.js'

/** The adapter's view of its options once checked. */
export interface CheckedAdapterOptions<Claims extends object> {
  readonly route: CheckedRouteOptions<Claims>
  readonly rejections: RejectionMode
}

/**
 * Checks an adapter's options. `own` names the adapter's other options, which it checks
 * itself; everything else must be a route option.
 * @example
 * ```ts
 * const { route, rejections } = checkAdapterOptions(options, ['maxFormBytes'])
 * ```
 */
export function checkAdapterOptions<Claims extends object>(
  options: AdapterOptions<Claims> | undefined,
  own: readonly string[] = [],
): CheckedAdapterOptions<Claims> {
  const routeOptions: Record<string, unknown> = { ...(options ?? {}) }
  const rejections = routeOptions.rejections ?? 'respond'
  for (const name of ['rejections', ...own]) delete routeOptions[name]
  const problems: string[] = []
  if (rejections !== 'respond' && rejections !== 'error')
    problems.push("rejections must be 'respond' or 'error'")
  let route: CheckedRouteOptions<Claims> | undefined
  try {
    route = checkRouteOptions(routeOptions as RouteOptions<Claims>)
  } catch (error) {
    const found = (error as InvalidArgument).details?.problems
    problems.unshift(...(Array.isArray(found) ? (found as string[]) : [String(error)]))
  }
  // The adapter's own members and the route's are reported together, each by name.
  if (route === undefined || problems.length > 0) {
    throw new InvalidArgument(`invalid route options: ${problems.join('; ')}`, {
      details: { problems },
    })
  }
  return { route, rejections: rejections as RejectionMode }
}
