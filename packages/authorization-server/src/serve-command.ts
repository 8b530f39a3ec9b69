/**
 * `keybound-as serve`: the documented way to run the authorization server from a config file.
 * The keybound CLI's `keybound as` is an alias that hands its arguments to
 * {@link runServeCommand}, so the two take the same flags and print the same help.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'
import { loadConfigFile } from './config.js'
import { createAuthorizationServer } from './server.js'

/**
 * The help text of `keybound-as serve` (and of its alias `keybound as`).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export const SERVE_USAGE = `Usage: keybound-as serve --config <file> [options]
   or: keybound as --config <file> [options]   (the same command, from the keybound CLI)

Runs the authorization server from a config file until SIGINT or SIGTERM. Once it listens it
prints one JSON line: {"ready":true,"issuer":"…"}.

Options:
  -c, --config <file>  config file: .yaml, .yml or .json (required; env KEYBOUND_CONFIG)
  -p, --port <port>    port to listen on (env PORT; default 8443)
      --host <host>    address to listen on (env HOST; default 127.0.0.1)
      --check          validate the config file, print a summary and exit
  -h, --help           print this help
`

interface ServeFlags {
  config: string
  port: number
  host: string
  check: boolean
}

function readServeFlags(args: readonly string[], env: NodeJS.ProcessEnv): ServeFlags | undefined {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return undefined
  return {
    config: requireConfigPath(values.config, env),
    port: readPort(values.port ?? env.PORT ?? '8443'),
    host: values.host ?? env.HOST ?? '127.0.0.1',
    check: values.check === true,
  }
}

/**
 * The config file named by `--config`, or else by `KEYBOUND_CONFIG`; there is no implicit
 * default, so a forgotten flag is named instead of ending in ENOENT on a guessed file name.
 * @example
 * ```ts
 * requireConfigPath(undefined, { KEYBOUND_CONFIG: 'my-as.yaml' }) // 'my-as.yaml'
 * ```
 */
export function requireConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const path = flag ?? env.KEYBOUND_CONFIG
  if (path === undefined || path === '')
    throw new Error('missing required option: -c, --config <file> (or KEYBOUND_CONFIG)')
  return path
}

function readPort(text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65535)
    throw new Error(`--port: "${text}" is not a port number from 0 to 65535`)
  return port
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE'
}

// The first SIGINT or SIGTERM stops the server cleanly; the handlers are then removed, so a
// second signal ends the process at once (whoever asks twice does not want to wait).
function waitForStop(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(signal)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

/**
 * Runs `keybound-as serve` with the arguments that follow `serve`: prints the help, checks the
 * config (`--check`), or serves until SIGINT/SIGTERM and resolves once the server is closed.
 * Throws a `ConfigError` naming every bad field, or an `Error` with a one-line reason (a
 * missing option, a bad port, a port already in use and the flag that moves it).
 * @example
 * ```ts
 * await runServeCommand(['--config', 'my-as.yaml', '--port', '8443'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function runServeCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const flags = readServeFlags(args, env)
  if (flags === undefined) {
    process.stdout.write(SERVE_USAGE)
    return
  }
  const config = await loadConfigFile(flags.config, env)
  if (flags.check) {
    process.stdout.write(
      `${flags.config}: OK (${config.clients.length} clients, ${config.users.length} users)\n`,
    )
    return
  }
  const server = await createAuthorizationServer(config, { env })
  const stopped = waitForStop()
  let issuer: string
  try {
    issuer = await server.listen({ port: flags.port, host: flags.host })
  } catch (error) {
    await server.close()
    if (!isAddressInUse(error)) throw error
    throw new Error(
      `port ${flags.port} on ${flags.host} is already in use: choose another with --port (or PORT)`,
    )
  }
  // A supervisor or a test reads this line to learn the issuer.
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`)
  await stopped
  await server.close()
}
