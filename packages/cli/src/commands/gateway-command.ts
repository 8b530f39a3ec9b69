/**
 * `keybound gateway --config gateway.yaml`: runs the DPoP-enforcing reverse proxy
 * (`@keybound/gateway`, loaded only when this command runs) until SIGINT or SIGTERM, then shuts
 * it down gracefully.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
import type { Command } from 'commander'
import { addressInUse, isAddressInUse } from '../lib/address-in-use.js'
import { importCommandPackage } from '../lib/optional-package.js'
import { printResult } from '../lib/output.js'
import { addRequiredOption } from '../lib/required-options.js'
import { waitForStopSignal } from '../lib/stop-signal.js'

interface GatewayFlags {
  config: string
  port?: string
  check?: boolean
  json?: boolean
}

function readPort(text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65535)
    throw new Error(`--port: "${text}" is not a port number from 0 to 65535`)
  return port
}

/**
 * Registers `gateway`.
 *
 * @example
 * ```ts
 * const program = new Command('keybound')
 * addGatewayCommand(program)
 * await program.parseAsync(['node', 'keybound', 'gateway', '--config', 'gateway.yaml'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function addGatewayCommand(program: Command): void {
  const command = program
    .command('gateway')
    .description(
      'run the DPoP-enforcing reverse proxy in front of an HTTP API (SIGINT/SIGTERM: graceful stop; needs @keybound/gateway)',
    )
  addRequiredOption(command, '-c, --config <file>', 'gateway config file (.yaml, .yml or .json)')
  command
    .option('-p, --port <port>', "port to listen on (default: the file's listen.port, or 8080)")
    .option('--check', 'validate the config file and exit')
    .option('--json', 'with --check: print the result as JSON')
    .action(async (options: GatewayFlags) => {
      const { createGateway, loadGatewayConfig } = await importCommandPackage(
        'gateway',
        '@keybound/gateway',
        () => import('@keybound/gateway'),
      )
      // Invalid files throw a GatewayConfigError naming every bad field; bin.ts prints it.
      const loaded = await loadGatewayConfig(options.config)
      if (options.check === true) {
        printResult(options.json === true, { ok: true, routes: loaded.routes.length }, [
          `${options.config}: OK (${loaded.routes.length} routes)`,
        ])
        return
      }
      const config =
        options.port === undefined
          ? loaded
          : { ...loaded, listen: { ...loaded.listen, port: readPort(options.port) } }
      const gateway = createGateway(config)
      const stopped = waitForStopSignal()
      try {
        await gateway.listen()
      } catch (error) {
        await gateway.close()
        if (!isAddressInUse(error)) throw error
        throw addressInUse(config.listen.port, `--port (or listen.port in ${options.config})`)
      }
      const signal = await stopped
      gateway.logger.info({ signal }, 'shutting down: finishing requests in flight')
      await gateway.close()
    })
}
