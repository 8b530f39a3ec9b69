/**
 * Test helpers for Redis: the shared server from `REDIS_URL` (required: CI provides it, and a
 * suite that silently skipped would prove nothing), and throwaway `redis-server` child processes
 * on loopback for outage tests (kill, freeze, restart) that must not disturb the shared server.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import { createConnection } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from 'redis'
import { freePort } from './net.js'

/** `REDIS_URL`, or a loud failure of the whole file when it is missing. */
export function requireRedisUrl(): string {
  const url = process.env.REDIS_URL
  if (url === undefined || url === '') {
    throw new Error(
      'REDIS_URL is not set: these tests need a real Redis (CI sets redis://127.0.0.1:6379)',
    )
  }
  return url
}

/** Deletes every key under `prefix` on the server at `url` (SCAN, never KEYS). */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const client = createClient({ url })
  await client.connect()
  try {
    let deleted = 0
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) deleted += await client.del(keys)
    }
    return deleted
  } finally {
    client.destroy()
  }
}

/**
 * A key prefix no other test run uses (`keybound:test:<suite>:<uuid>:`), so that test files and
 * parallel runs share one Redis without seeing each other's keys; pair it with {@link deleteKeys}.
 */
export function uniqueKeyPrefix(suite: string): string {
  return `keybound:test:${suite}:${randomUUID()}:`
}

/** Sends PING over a raw socket; true on +PONG within `timeoutMs`. */
export async function pings(port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (result: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')))
  })
}

/** A `redis-server` child process on 127.0.0.1 that the test controls. */
export interface RedisChild {
  readonly port: number
  readonly url: string
  /** Starts (or restarts) the server on the same port and waits until it answers PING. */
  start(): Promise<void>
  /** SIGKILLs the server and waits for it to exit. */
  kill(): Promise<void>
  /** SIGSTOP: the socket stays open but nothing is answered (a hung Redis). */
  freeze(): void
  /** SIGCONT after `freeze`. */
  thaw(): void
}

/**
 * Prepares a throwaway `redis-server` (no persistence, loopback only) on a free port. Call
 * `start()`; always `kill()` in `afterAll`.
 */
export async function redisChild(extraArgs: readonly string[] = []): Promise<RedisChild> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'yes',
    ...extraArgs,
  ]
  const handle: RedisChild = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) return
      const started = spawn('redis-server', args, { stdio: 'ignore' })
      child = started
      started.once('error', () => {})
      // Bounded wait: 100 × 50 ms.
      for (let attempt = 0; attempt < 100; attempt++) {
        if (await pings(port)) return
        if (started.exitCode !== null) throw new Error(`redis-server exited (${started.exitCode})`)
        await sleep(50)
      }
      throw new Error(`redis-server on port ${port} did not answer PING`)
    },
    async kill() {
      const running = child
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
      const exited = once(running, 'exit')
      running.kill('SIGCONT')
      running.kill('SIGKILL')
      await exited
    },
    freeze() {
      child?.kill('SIGSTOP')
    },
    thaw() {
      child?.kill('SIGCONT')
    },
  }
  return handle
}

/** A throwaway Redis Cluster of three masters on loopback. */
export interface RedisClusterChildren {
  readonly nodes: readonly RedisChild[]
  kill(): Promise<void>
}

/**
 * Starts three cluster-enabled `redis-server`s (slots split by `redis-cli --cluster create`) and
 * waits until the cluster reports `cluster_state:ok`. Config files go to a temporary directory.
 */
export async function redisCluster(directory: string): Promise<RedisClusterChildren> {
  const nodes: RedisChild[] = []
  for (let index = 0; index < 3; index++) {
    const busPort = await freePort()
    nodes.push(
      await redisChild([
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        `nodes-${index}-${busPort}.conf`,
        '--dir',
        directory,
      ]),
    )
  }
  const kill = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.kill()))
  }
  try {
    await Promise.all(nodes.map((node) => node.start()))
    const create = spawn(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { stdio: 'ignore' },
    )
    const [code] = (await once(create, 'exit')) as [number | null]
    if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}`)
    // Bounded wait for every node to agree that all slots are covered: 200 × 50 ms.
    for (let attempt = 0; attempt < 200; attempt++) {
      const states = await Promise.all(nodes.map((node) => clusterState(node.url)))
      if (states.every((state) => state === 'ok')) return { nodes, kill }
      await sleep(50)
    }
    throw new Error('the Redis cluster did not reach cluster_state:ok')
  } catch (error) {
    await kill()
    throw error
  }
}

async function clusterState(url: string): Promise<string | undefined> {
  const client = createClient({ url })
  await client.connect()
  try {
    const info = await client.clusterInfo()
    return /cluster_state:(\w+)/.exec(String(info))?.[1]
  } finally {
    client.destroy()
  }
}
