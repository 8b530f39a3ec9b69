/**
 * The one wording of a bad argument across Keybound's packages, so that none keeps its own:
 * core's {@link InvalidArgument} with `<name> must be <what>` and `details.argument`. Exported
 * through `@keybound/core/internal` only.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 */
import { InvalidArgument } from '../errors.js'

/**
 * A bad argument (a programming error), worded `<name> must be <what>`, with the argument's
 * name in `details.argument`; `claim` names the proof field when the argument is one (`htu`).
 * @example
 * ```ts
 * if (typeof options.fetch !== 'function') throw invalidArgument('fetch', 'a function')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function invalidArgument(
  name: string,
  expectation: string,
  options: { cause?: unknown; claim?: string } = {},
): InvalidArgument {
  return new InvalidArgument(`${name} must be ${expectation}`, {
    ...options,
    details: { argument: name },
  })
}
