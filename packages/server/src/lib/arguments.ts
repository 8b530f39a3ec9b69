/**
 * Argument checks shared by the resource server's adapters. A bad argument is a programming
 * error: it is core's `InvalidArgument` everywhere, with one message style (`<name> must be
 * <what>`) and the argument's name in `details.argument`.
 * @packageDocumentation
 */
import { InvalidArgument } from '@keybound/core'
import type { ResourceServer } from '../types.js'

/**
 * The one way an adapter reports a bad argument.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function invalidArgument(name: string, expectation: string): InvalidArgument {
  return new InvalidArgument(`${name} must be ${expectation}`, { details: { argument: name } })
}

/**
 * Refuses anything that is not a resource server made by `createResourceServer`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function checkResourceServer(resourceServer: ResourceServer): void {
  if (typeof resourceServer?.verifyRequest !== 'function')
    throw invalidArgument('resourceServer', 'a ResourceServer from createResourceServer')
}

/**
 * Refuses a handler or listener that is not a function.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') throw invalidArgument(name, 'a function')
}
