/**
 * Required options, marked as such in help and all reported at once when missing (commander
 * stops at the first missing one).
 */
import { Option, type Command } from 'commander'

const REQUIRED = new WeakMap<Command, Option[]>()

/**
 * Adds an option that must be given; its help line ends with "(required)".
 * @example
 * ```ts
 * addRequiredOption(command, '-k, --key <file>', 'private key file')
 * ```
 */
export function addRequiredOption(command: Command, flags: string, description: string): Command {
  const option = new Option(flags, `${description} (required)`)
  REQUIRED.set(command, [...(REQUIRED.get(command) ?? []), option])
  return command.addOption(option)
}

/**
 * Fails the command with one message naming every required option that was not given. Meant
 * for a `preAction` hook, so it runs after parsing and before the action.
 * @example
 * ```ts
 * program.hook('preAction', (_program, command) => checkRequiredOptions(command))
 * ```
 */
export function checkRequiredOptions(command: Command): void {
  const missing = (REQUIRED.get(command) ?? []).filter(
    (option) => command.getOptionValue(option.attributeName()) === undefined,
  )
  if (missing.length === 0) return
  const plural = missing.length === 1 ? '' : 's'
  command.error(
    `error: missing required option${plural}: ${missing.map((option) => option.flags).join(', ')}`,
    { code: 'keybound.missingRequiredOptions' },
  )
}
