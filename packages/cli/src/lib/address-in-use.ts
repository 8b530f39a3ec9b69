/**
 * A port already in use, said with the flag that moves it.
 */

/** True for the error a listener gets when its port is taken. */
export function isAddressInUse(error: unknown): error is NodeJS.ErrnoException & { port?: number } {
  return (error as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE'
}

/**
 * The error to show for a port in use: which port, and how to choose another.
 * @example
 * ```ts
 * throw addressInUse(4000, '--as-port (or KEYBOUND_AS_PORT)')
 * ```
 */
export function addressInUse(port: number | undefined, howToMove: string): Error {
  return new Error(
    `port ${port ?? '(unknown)'} is already in use: choose another with ${howToMove}, or stop what listens there`,
  )
}
