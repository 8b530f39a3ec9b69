/**
 * The heavy commands (`as`, `gateway`, `serve`) load their package only when they run, so the
 * proof commands start fast and work where only `@keybound/core` is installed.
 */

import { KeyboundError } from '@keybound/core'

/**
 * Stable codes of the errors thrown by `@keybound/cli`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4
 */
export type CliErrorCode = 'ERR_DPOP_CLI_MISSING_PACKAGE'

/**
 * A command's package is not installed; the message says what to install.
 * @example
 * ```ts
 * catch (error) { if (error instanceof MissingPackageError) console.error(error.details) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4
 */
export class MissingPackageError extends KeyboundError {
  /** The stable code of this error class. */
  static code: CliErrorCode = 'ERR_DPOP_CLI_MISSING_PACKAGE'
  /** The stable code of this error. */
  declare readonly code: CliErrorCode
  constructor(command: string, packageName: string) {
    super(
      `keybound ${command} needs ${packageName}, which is not installed: npm i ${packageName}`,
      {
        reason: 'not installed',
        details: { command, package: packageName },
      },
    )
  }
}

function isMissing(error: unknown, packageName: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  // Only the package itself: a dependency missing inside it is another problem, reported as is.
  return (
    code === 'ERR_MODULE_NOT_FOUND' &&
    typeof message === 'string' &&
    message.includes(`'${packageName}'`)
  )
}

/**
 * Imports a command's package, turning "not installed" into a {@link MissingPackageError}.
 * @example
 * ```ts
 * const { createGateway } = await importCommandPackage('gateway', '@keybound/gateway', () => import('@keybound/gateway'))
 * ```
 */
export async function importCommandPackage<T>(
  command: string,
  packageName: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load()
  } catch (error) {
    if (isMissing(error, packageName)) throw new MissingPackageError(command, packageName)
    throw error
  }
}
