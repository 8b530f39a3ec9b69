/**
 * Real nginx and Caddy (Debian's packages) as child processes on loopback, each run from the
 * recipe in `docs/edge/` exactly as users copy it, with its placeholders filled in. Each gets a
 * temporary prefix or config directory: no system service, no port below 1024.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@keybound/test-kit/net'

export const NGINX = '/usr/sbin/nginx'
export const CADDY = '/usr/bin/caddy'

/** The recipes' directory in the repository. */
const RECIPES = fileURLToPath(new URL('../../../../docs/edge/', import.meta.url))

export type ProxyName = 'nginx' | 'caddy'

export interface RunningProxy {
  readonly name: ProxyName
  readonly url: string
  /** What the proxy wrote to stderr (for a failing test's message). */
  readonly stderr: () => string
  close(): Promise<void>
}

/** Where the proxy's listener, the verify service and the API are. */
export interface RecipeValues {
  keybound: string
  upstream: string
}

/** A recipe with its `__NAME__` placeholders filled in; fails if one is left. */
export async function renderRecipe(file: string, values: Record<string, string>): Promise<string> {
  let text = await readFile(join(RECIPES, file), 'utf8')
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`__${name}__`, value)
  const left = /__[A-Z]+__/.exec(text)
  if (left !== null) throw new Error(`${file}: placeholder ${left[0]} not filled in`)
  return text
}

/** Resolves once something accepts connections on the port (bounded wait). */
async function waitForPort(port: number, child: ChildProcess, stderr: () => string) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`proxy exited (${child.exitCode}): ${stderr()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`proxy did not listen on ${port}: ${stderr()}`)
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** The command line of each proxy, run in `dir` with its config written there. */
const COMMANDS: Record<ProxyName, { binary: string; recipe: string; args(dir: string): string[] }> =
  {
    nginx: {
      binary: NGINX,
      recipe: 'nginx.conf',
      args: (dir) => ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    },
    caddy: {
      binary: CADDY,
      recipe: 'Caddyfile',
      args: (dir) => ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'],
    },
  }

/** Starts nginx or Caddy from its recipe, in front of `values.upstream`. */
export async function startProxy(name: ProxyName, values: RecipeValues): Promise<RunningProxy> {
  const command = COMMANDS[name]
  if (!existsSync(command.binary))
    throw new Error(`${command.binary} is missing: apt-get install -y nginx caddy`)
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), `keybound-edge-${name}-`))
  const config = await renderRecipe(command.recipe, {
    LISTEN: `127.0.0.1:${port}`,
    KEYBOUND: values.keybound,
    UPSTREAM: values.upstream,
  })
  await writeFile(join(dir, command.recipe), config)
  const child = spawn(command.binary, command.args(dir), {
    cwd: dir,
    // Caddy keeps its state under these; nothing may touch the real home.
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk))
  try {
    await waitForPort(port, child, () => stderr)
  } catch (error) {
    await stop(child)
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    async close() {
      await stop(child)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
