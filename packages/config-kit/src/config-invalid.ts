/**
 * The one shape of a refused config file, shared by the authorization server's `ConfigError` and
 * the gateway's `GatewayConfigError`: every bad field in `issues`, all in one message.
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @packageDocumentation
 */
import { KeyboundError } from '@keybound/core'

/**
 * Base of the errors a config loader throws when a file fails its checks. `issues` lists every
 * bad field as `path: problem` (the {@link Checker}'s wording), so one run shows everything to
 * fix; each package subclasses it with its own stable `code` (ADR 0050).
 * @example
 * ```ts
 * try { resolveGatewayConfig(input) } catch (error) {
 *   if (error instanceof ConfigInvalid) console.error(error.issues.join('\n'))
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export abstract class ConfigInvalid extends KeyboundError {
  /** Every bad field, as `path: problem`. */
  readonly issues: readonly string[]

  /**
   * @param file - what was refused, as the message names it (`configuration`, `gateway config`)
   * @param issues - every bad field, as `path: problem`
   * @param details - values that help find the file (its path), never a secret
   */
  constructor(file: string, issues: readonly string[], details?: Record<string, unknown>) {
    super(`invalid ${file}:\n  ${issues.join('\n  ')}`, {
      reason: 'invalid fields',
      ...(details === undefined ? {} : { details }),
    })
    this.issues = issues
  }
}
