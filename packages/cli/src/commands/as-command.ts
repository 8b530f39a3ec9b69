/**
 * `keybound as`: an alias of `keybound-as serve`, the authorization server's documented entry
 * point. Every argument goes to the authorization server's own serve command, so both take the
 * same flags (`--config`, `--port`, `--host`, `--check`) and print the same help.
 * `@keybound/authorization-server` is loaded only when this command runs.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
import type { Command } from 'commander'
import { importCommandPackage } from '../lib/optional-package.js'

/**
 * Registers `as`.
 *
 * @example
 * ```ts
 * const program = new Command('keybound')
 * addAsCommand(program)
 * await program.parseAsync(['node', 'keybound', 'as', '--config', 'my-as.yaml'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function addAsCommand(program: Command): void {
  program
    .command('as')
    .description(
      'run the authorization server from a config file: alias of keybound-as serve (keybound as --help; needs @keybound/authorization-server)',
    )
    .usage('--config <file> [--port <port>] [--host <host>] [--check]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[arguments...]', 'passed to keybound-as serve')
    .action(async (args: string[]) => {
      const { runServeCommand } = await importCommandPackage(
        'as',
        '@keybound/authorization-server',
        () => import('@keybound/authorization-server'),
      )
      await runServeCommand(args)
    })
}
