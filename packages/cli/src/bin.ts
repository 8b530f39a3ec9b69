#!/usr/bin/env node
/**
 * The `keybound` command. Only commander, `@keybound/core` and the command modules load at
 * start; the heavy commands (`as`, `gateway`, `serve`) and `curl` import their packages when
 * they run, so the proof commands start fast and need nothing else installed.
 */
import { Command, CommanderError } from 'commander'
import { DPoPError, KeyboundError } from '@keybound/core'
import { addKeygenCommand, addThumbprintCommand } from './commands/key-commands.js'
import { addExplainCommand, addProofCommand, addVerifyCommand } from './commands/proof-commands.js'
import { addGatewayCommand } from './commands/gateway-command.js'
import { addAuthzCommand } from './commands/authz-command.js'
import { addCurlCommand } from './commands/curl-command.js'
import { addServeCommand } from './commands/serve-command.js'
import { addAsCommand } from './commands/as-command.js'
import { checkRequiredOptions } from './lib/required-options.js'

const program = new Command()
  .name('keybound')
  .description('DPoP (RFC 9449) from the terminal: keys, proofs, verification and a proof debugger')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride()
  .enablePositionalOptions()
  .hook('preAction', (_program, command) => checkRequiredOptions(command))

addKeygenCommand(program)
addThumbprintCommand(program)
addProofCommand(program)
addVerifyCommand(program)
addExplainCommand(program)
addCurlCommand(program)
addGatewayCommand(program)
addAuthzCommand(program)
addServeCommand(program)
addAsCommand(program)

// Proof, key and token failures print their code, the thing to search the docs for. Config,
// install and client errors print only their message, which already names every fix.
function hasCodeWorthShowing(error: unknown): error is KeyboundError {
  if (error instanceof DPoPError) return true
  return error instanceof KeyboundError && /^ERR_DPOP_(?:PKCS11|ACCESS_TOKEN)_/.test(error.code)
}

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2
  } else {
    const label = hasCodeWorthShowing(error)
      ? `${error.code}: ${error.message}`
      : error instanceof Error
        ? error.message
        : String(error)
    process.stderr.write(`keybound: ${label}\n`)
    process.exitCode = 2
  }
}
