/**
 * Long-running commands (`serve`, `as`, `gateway`) stop cleanly on SIGINT or SIGTERM.
 */

/**
 * Resolves with the first of SIGINT or SIGTERM; a second signal ends the process at once,
 * because whoever asks twice does not want to wait for requests in flight.
 * @example
 * ```ts
 * await waitForStopSignal()
 * await server.close()
 * ```
 */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      const force = () => process.exit(130)
      process.once('SIGINT', force)
      process.once('SIGTERM', force)
      resolve(signal)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
