/**
 * The benchmark's server children: extra Node flags for them, and a stop that lets them exit
 * on their own, so that flags such as `--cpu-prof` get to write their output.
 */
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'

const STOP_GRACE_MS = 5000

/**
 * Extra Node flags for the HTTP suites' server children, from `BENCH_CHILD_NODE_FLAGS`
 * (space-separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles`; see bench/README.md.
 */
export function childNodeFlags(): string[] {
  return (process.env.BENCH_CHILD_NODE_FLAGS ?? '').split(' ').filter(Boolean)
}

/**
 * Closes the IPC channel (the children exit on `disconnect`) and waits for the exit; a child
 * still running after a few seconds is killed.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  const timer = setTimeout(() => child.kill(), STOP_GRACE_MS)
  if (child.connected) child.disconnect()
  else child.kill()
  await exited
  clearTimeout(timer)
}
