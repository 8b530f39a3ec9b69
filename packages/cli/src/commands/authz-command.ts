/**
 * `keybound authz --config gateway.yaml`: runs the verify service of `@keybound/gateway`, which
 * answers the checks of a proxy in front of an API (nginx `auth_request`, Caddy
 * `forward_auth`, Traefik `forwardAuth`, Envoy `ext_authz`) until SIGINT or SIGTERM. The package
 * is loaded only when this command runs, like `gateway`'s.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
import type { Command } from 'commander'
import { importCommandPackage } from '../lib/optional-package.js'
import { printResult } from '../lib/output.js'
import { addRequiredOption } from '../lib/required-options.js'
import { waitForStopSignal } from '../lib/stop-signal.js'

/**
 * Registers `authz`.
 *
 * @example
 * ```ts
 * const program = new Command('keybound')
 * addAuthzCommand(program)
 * await program.parseAsync(['node', 'keybound', 'authz', '--config', 'gateway.yaml'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function addAuthzCommand(program: Command): void {
  const command = program
    .command('authz')
    .description(
      'run the DPoP verify service for nginx, Caddy, Traefik and Envoy (SIGINT/SIGTERM: graceful stop; needs @keybound/gateway)',
    )
  addRequiredOption(command, '-c, --config <file>', 'gateway config file (.yaml, .yml or .json)')
  command
    .option('--check', 'validate the config file and exit')
    .option('--json', 'with --check: print the result as JSON')
    .action(async (options: { config: string; check?: boolean; json?: boolean }) => {
      const { createVerifyService, loadGatewayConfig } = await importCommandPackage(
        'authz',
        '@keybound/gateway',
        () => import('@keybound/gateway'),
      )
      // Invalid files throw a GatewayConfigError naming every bad field; bin.ts prints it.
      const config = await loadGatewayConfig(options.config, process.env, { mode: 'verify' })
      if (options.check === true) {
        printResult(options.json === true, { ok: true, routes: config.routes.length }, [
          `${options.config}: OK (${config.routes.length} routes)`,
        ])
        return
      }
      const service = createVerifyService(config)
      const stopped = waitForStopSignal()
      await service.listen()
      const signal = await stopped
      service.logger.info({ signal }, 'shutting down: finishing checks in flight')
      await service.close()
    })
}
