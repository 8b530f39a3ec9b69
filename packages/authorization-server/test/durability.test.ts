/**
 * Durability: the server runs as a child process (the built `keybound-as` binary) on SQLite and
 * on PostgreSQL; it is killed with SIGKILL in the middle of a run of refresh-token rotations
 * and restarted on the same database. Every refresh token that was issued (its response
 * arrived) and not rotated still works; no rotated one works.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { baseConfig, codeForm, DATABASES, Dpop, freshStorage, getCode } from './support.js'

const packageDir = join(import.meta.dirname, '..')
const children = new Set<ChildProcess>()

function startChild(
  configPath: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; issuer: string }> {
  const child = spawn(
    process.execPath,
    [join(packageDir, 'dist/bin.js'), 'serve', '--config', configPath, '--port', '0'],
    {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.add(child)
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 20_000)
    child.stderr!.on('data', (chunk) => (output += String(chunk)))
    child.stdout!.on('data', (chunk: Buffer) => {
      output += String(chunk)
      const line = output.split('\n').find((candidate) => candidate.startsWith('{"ready":true'))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve({ child, issuer: (JSON.parse(line) as { issuer: string }).issuer })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited (${code}): ${output}`))
    })
  })
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

interface Chain {
  dpop: Dpop
  /** The newest refresh token whose response arrived. */
  current: string
  /** Tokens whose rotation response arrived. */
  rotated: string[]
  /** A rotation was on the wire when the server died: `current` may or may not be rotated. */
  inFlight: boolean
}

beforeAll(() => {
  // The child runs the built code; build it (incremental, quick when up to date).
  execFileSync(
    process.execPath,
    [join(packageDir, '../../node_modules/typescript/bin/tsc'), '-b', packageDir],
    { stdio: 'inherit' },
  )
}, 120_000)

afterEach(async () => {
  await Promise.all([...children].map(kill))
  children.clear()
})

describe.each(DATABASES)('durability on %s', (kind) => {
  it('SIGKILL during refresh-token rotations loses nothing and resurrects nothing', async () => {
    const { storage, env, cleanup } = await freshStorage(kind)
    try {
      const dir = kind === 'sqlite' ? storage.dataDir! : (await import('node:os')).tmpdir()
      const configPath = join(dir, `keybound-as-${process.pid}-${Date.now()}.json`)
      const { storage: _unused, ...config } = { ...(await baseConfig()), storage: {} }
      await writeFile(configPath, JSON.stringify(config))
      let server = await startChild(configPath, env)

      const chains: Chain[] = []
      for (let i = 0; i < 8; i++) {
        const dpop = await Dpop.create()
        const { code, verifier } = await getCode(server.issuer, 'public-app')
        const answer = await dpop.post(
          `${server.issuer}/token`,
          codeForm('public-app', code, verifier),
        )
        expect(answer.status, answer.text).toBe(200)
        chains.push({ dpop, current: answer.body.refresh_token, rotated: [], inFlight: false })
      }
      // Chains 0-5 rotate in a loop with short pauses; chains 6-7 stay idle.
      let running = true
      let rotations = 0
      const loops = chains.slice(0, 6).map(async (chain) => {
        while (running) {
          chain.inFlight = true
          try {
            const answer = await chain.dpop.post(`${server.issuer}/token`, {
              grant_type: 'refresh_token',
              client_id: 'public-app',
              refresh_token: chain.current,
            })
            if (answer.status !== 200) throw new Error(`rotation failed: ${answer.text}`)
            chain.rotated.push(chain.current)
            chain.current = answer.body.refresh_token
            chain.inFlight = false
            rotations++
          } catch (error) {
            if (running) throw error
            return // the server died under this request: it stays in flight
          }
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 15))
        }
      })
      while (rotations < 60) await new Promise((resolve) => setTimeout(resolve, 5))
      running = false
      await kill(server.child)
      await Promise.all(loops)
      expect(chains.slice(0, 6).every((chain) => chain.rotated.length > 0)).toBe(true)

      server = await startChild(configPath, env)
      const refresh = (chain: Chain, token: string) =>
        chain.dpop.post(`${server.issuer}/token`, {
          grant_type: 'refresh_token',
          client_id: 'public-app',
          refresh_token: token,
        })
      let strict = 0
      for (const chain of chains) {
        if (chain.inFlight) continue // its outcome was never seen; checked below only as "rotated ones fail"
        strict++
        const answer = await refresh(chain, chain.current)
        expect(answer.status, answer.text).toBe(200)
        chain.rotated.push(chain.current)
        chain.current = answer.body.refresh_token
      }
      expect(strict).toBeGreaterThanOrEqual(2)
      for (const chain of chains) {
        for (const token of chain.rotated) {
          const answer = await refresh(chain, token)
          expect([answer.status, answer.body.error]).toEqual([400, 'invalid_grant'])
        }
      }
    } finally {
      await Promise.all([...children].map(kill))
      await cleanup()
    }
  }, 60_000)
})
