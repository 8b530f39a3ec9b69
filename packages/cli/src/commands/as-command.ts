/**
 * `keybound as --config <file>`: runs the authorization server (`@keybound/authorization-server`)
 * from a JSON or YAML config until SIGINT or SIGTERM, like the package's own `keybound-as serve`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
import type { Command } from 'commander'
import { waitForStopSignal } from '../lib/stop-signal.js'

interface AsFlags {
  config: string
  port: string
  host: string
  check?: boolean
}

/**
 * Registers `as`.
 *
 * @example
 * ```ts
 * const program = new Command('keybound')
 * addAsCommand(program)
 * await program.parseAsync(['node', 'keybound', 'as', '--config', 'keybound-as.yaml'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function addAsCommand(program: Command): void {
  program
    .command('as')
    .description('run the authorization server from a config file (SIGINT/SIGTERM: clean stop)')
    .requiredOption('-c, --config <file>', 'authorization server config (.yaml, .yml or .json)')
    .option('-p, --port <port>', 'port to listen on', process.env.PORT ?? '8443')
    .option('--host <host>', 'address to listen on', process.env.HOST ?? '127.0.0.1')
    .option('--check', 'validate the config file and exit')
    .action(async (flags: AsFlags) => {
      // Loaded on use: the AS brings SQLite and PostgreSQL drivers the other commands never need.
      const { createAuthorizationServer, loadConfigFile } =
        await import('@keybound/authorization-server')
      // An invalid file throws a ConfigError naming every bad field; bin.ts prints it.
      const config = await loadConfigFile(flags.config)
      if (flags.check === true) {
        process.stdout.write(
          `${flags.config}: OK (${config.clients.length} clients, ${config.users.length} users)\n`,
        )
        return
      }
      const port = Number(flags.port)
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error('--port: must be a port number')
      const server = await createAuthorizationServer(config)
      const stopped = waitForStopSignal()
      const issuer = await server.listen({ port, host: flags.host })
      // A supervisor or a test reads this line to learn the issuer, as with keybound-as serve.
      process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`)
      await stopped
      await server.close()
    })
}
