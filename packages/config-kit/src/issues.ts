/**
 * Joining the issue lists of a loader's passes into the one list its error carries.
 * @see https://json-schema.org/draft-07/json-schema-validation
 * @packageDocumentation
 */

/**
 * Joins issue lists in order and drops repeats, so a member refused both by the shape walk and
 * by a loader's own check is named once, where it was first found.
 * @example
 * ```ts
 * import { mergeIssues } from '@keybound/config-kit'
 * mergeIssues(['a: x'], ['a: x', 'b: y']) // ['a: x', 'b: y']
 * ```
 * @see https://json-schema.org/draft-07/json-schema-validation
 */
export function mergeIssues(...lists: readonly (readonly string[])[]): string[] {
  return [...new Set(lists.flat())]
}
