/**
 * Argument checks shared by the resource server's adapters. A bad argument is a programming
 * error: core's `invalidArgument` words it (`<name> must be <what>`, `details.argument`).
 * @packageDocumentation
 */
import { invalidArgument } from '@keybound/core/internal'
import type { ResourceServer } from '../types.js'

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
