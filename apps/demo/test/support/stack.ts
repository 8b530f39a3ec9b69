/**
 * Test support: `keybound serve` as a child process on free loopback ports with its own data
 * folder, read the way a person reads it (the banner), and stopped the way a person stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePorts } from '@keybound/test-kit/net'

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../../../packages/cli/dist/bin.js', import.meta.url))

/** A running `keybound serve`. */
export interface ServeProcess {
  readonly urls: { issuer: string; api: string; page: string }
  readonly passwords: Record<string, string>
  readonly serviceSecret: string
  /** The printed shell lines for demo-service: get a token, call the API, post a note. */
  readonly recipe: [string, string, string]
  /** Everything printed so far. */
  output(): string
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>
}

/** Three distinct free ports (AS, API, page). */
export async function servePorts(): Promise<[number, number, number]> {
  const [issuer, api, page] = await freePorts(3)
  return [issuer!, api!, page!]
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

function match(output: string, pattern: RegExp): string {
  const found = pattern.exec(output)?.[1]
  if (found === undefined) throw new Error(`the banner has no ${pattern}:\n${output}`)
  return found
}

/**
 * Starts `node packages/cli/dist/bin.js serve` and waits for its banner; `extraArgs` go after
 * the ports and the data folder (e.g. `--resource …`).
 * @example
 * ```ts
 * const stack = await startServe(dataDir, await servePorts())
 * ```
 */
export async function startServe(
  dataDir: string,
  [asPort, apiPort, pagePort]: [number, number, number],
  extraArgs: readonly string[] = [],
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--host',
      'localhost',
      '--as-port',
      String(asPort),
      '--api-port',
      String(apiPort),
      '--page-port',
      String(pagePort),
      '--data-dir',
      dataDir,
      ...extraArgs,
    ],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    },
  )
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000)
    const check = () => {
      if (!output.includes('Ctrl-C stops everything')) return
      clearTimeout(timer)
      child.stdout!.off('data', check)
      resolve()
    }
    child.stdout!.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code}:\n${output}`))
    })
  })
  child.removeAllListeners('exit')
  const recipe = match(output, /Try it from a terminal[^\n]*\n\s+(TOKEN=[^\n]+)\n/)
  const call = match(output, /\n\s+(npx keybound curl -v [^\n]+)\n/)
  const post = match(output, /\n\s+(npx keybound curl [^\n]+ -d [^\n]+)\n/)
  return {
    urls: {
      issuer: `http://localhost:${asPort}`,
      api: `http://localhost:${apiPort}`,
      page: `http://localhost:${pagePort}/`,
    },
    passwords: {
      alice: match(output, /alice\s+password\s+(\S+)/),
      bob: match(output, /bob\s+password\s+(\S+)/),
    },
    serviceSecret: match(output, /client_secret (\S+)/),
    recipe: [recipe, call, post],
    output: () => output,
    async stop() {
      const exited = waitForExit(child)
      child.kill('SIGTERM')
      return exited
    },
  }
}
