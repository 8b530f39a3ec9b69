/**
 * `keybound gateway --config gateway.yaml`: runs the DPoP-enforcing reverse proxy
 * (`@keybound/gateway`) until SIGINT or SIGTERM, then shuts it down gracefully.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
import type { Command } from 'commander'
import { createGateway, loadGatewayConfig } from '@keybound/gateway'
import { printResult } from '../lib/output.js'
import { waitForStopSignal } from '../lib/stop-signal.js'

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
  program
    .command('gateway')
    .description(
      'run the DPoP-enforcing reverse proxy in front of an HTTP API (SIGINT/SIGTERM: graceful stop)',
    )
    .requiredOption('-c, --config <file>', 'gateway config file (.yaml, .yml or .json)')
    .option('--check', 'validate the config file and exit')
    .option('--json', 'with --check: print the result as JSON')
    .action(async (options: { config: string; check?: boolean; json?: boolean }) => {
      // Invalid files throw a GatewayConfigError naming every bad field; bin.ts prints it.
      const config = await loadGatewayConfig(options.config)
      if (options.check === true) {
        printResult(options.json === true, { ok: true, routes: config.routes.length }, [
          `${options.config}: OK (${config.routes.length} routes)`,
        ])
        return
      }
      const gateway = createGateway(config)
      const stopped = waitForStopSignal()
      await gateway.listen()
      const signal = await stopped
      gateway.logger.info({ signal }, 'shutting down: finishing requests in flight')
      await gateway.close()
    })
}
