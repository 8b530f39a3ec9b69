/**
 * `keybound serve`: the demo stack in one process (authorization server, DPoP-protected demo
 * API, demo page) on embedded defaults, until SIGINT or SIGTERM. What `npm start` runs.
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
import type { Command } from 'commander'
import type { ServeOptions } from '@keybound/demo'
import { addressInUse, isAddressInUse } from '../lib/address-in-use.js'
import { importCommandPackage } from '../lib/optional-package.js'
import { waitForStopSignal } from '../lib/stop-signal.js'

interface ServeFlags {
  host?: string
  asPort?: string
  apiPort?: string
  pagePort?: string
  dataDir?: string
  rsNonces?: boolean
  resource?: string[]
}

function portOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value)
}

const PORT_FLAGS = {
  asPort: '--as-port (or KEYBOUND_AS_PORT)',
  apiPort: '--api-port (or KEYBOUND_API_PORT)',
  pagePort: '--page-port (or KEYBOUND_PAGE_PORT)',
} as const

// Which of the three servers lost its port, by the port number the listener reports.
function portFlagOf(ports: Record<keyof typeof PORT_FLAGS, number>, port: number | undefined) {
  const name = (Object.keys(PORT_FLAGS) as (keyof typeof PORT_FLAGS)[]).find(
    (key) => ports[key] === port,
  )
  return name === undefined ? '--as-port, --api-port or --page-port' : PORT_FLAGS[name]
}

/**
 * Registers `serve`.
 *
 * @example
 * ```ts
 * const program = new Command('keybound')
 * addServeCommand(program)
 * await program.parseAsync(['node', 'keybound', 'serve', '--as-port', '5000'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'run the demo: authorization server, DPoP-protected API and browser page, on embedded defaults (Ctrl-C stops it; needs @keybound/demo)',
    )
    .option(
      '--host <host>',
      'host name in the URLs and to listen on (env KEYBOUND_HOST; default localhost)',
    )
    .option('--as-port <port>', 'authorization server port (env KEYBOUND_AS_PORT; default 4000)')
    .option('--api-port <port>', 'demo API port (env KEYBOUND_API_PORT; default 4001)')
    .option('--page-port <port>', 'demo page port (env KEYBOUND_PAGE_PORT; default 4002)')
    .option(
      '--data-dir <dir>',
      'SQLite database and demo credentials (env KEYBOUND_DATA_DIR; default .keybound-data at the repository root)',
    )
    .option('--no-rs-nonces', 'turn off DPoP nonces at the demo API (env KEYBOUND_RS_NONCES=off)')
    .option(
      '--resource <url>',
      'another API the AS issues tokens for, named by RFC 8707 resource (repeatable; env KEYBOUND_RESOURCES)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .action(async (flags: ServeFlags, command: Command) => {
      // Loaded here, not at the top: the demo pulls in the AS, SQLite and esbuild, which the
      // other commands do not need.
      const { serve, resolveServeOptions } = await importCommandPackage(
        'serve',
        '@keybound/demo',
        () => import('@keybound/demo'),
      )
      const serveOrExplain = (options: ServeOptions) =>
        serve(options).catch((error: unknown) => {
          if (!isAddressInUse(error)) throw error
          throw addressInUse(error.port, portFlagOf(resolveServeOptions(options), error.port))
        })
      const stopped = waitForStopSignal()
      const rsNoncesFlag =
        command.getOptionValueSource('rsNonces') === 'cli' ? flags.rsNonces : undefined
      // Every serve option accepts `undefined` as "not given" (ADR 0048): no spreads needed.
      const stack = await serveOrExplain({
        host: flags.host,
        asPort: portOf(flags.asPort),
        apiPort: portOf(flags.apiPort),
        pagePort: portOf(flags.pagePort),
        dataDir: flags.dataDir,
        rsNonces: rsNoncesFlag,
        resources: flags.resource,
      })
      const signal = await stopped
      process.stdout.write(`\n${signal}: stopping the demo…\n`)
      await stack.close()
      process.stdout.write('stopped; the data is kept for the next start\n')
    })
}
