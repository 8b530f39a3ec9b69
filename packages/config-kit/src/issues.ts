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

/**
 * The issue for a config text that is neither JSON nor YAML, in the form every issue has: the
 * parser's first line only, since later lines quote the file and the file may hold a secret.
 * @example
 * ```ts
 * import { describeUnparsable } from '@keybound/config-kit'
 * describeUnparsable(new SyntaxError('Unexpected token } in JSON at position 9'))
 * // '(file): not valid JSON or YAML: Unexpected token } in JSON at position 9'
 * ```
 * @see https://yaml.org/spec/1.2.2/
 */
export function describeUnparsable(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return `(file): not valid JSON or YAML: ${message.split('\n')[0]}`
}
