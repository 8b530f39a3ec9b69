/**
 * PostgreSQL down and back under load at the authorization server. The shared PostgreSQL
 * (`DATABASE_URL`) cannot be stopped, so this suite runs its own throwaway cluster: `initdb`
 * into a temporary directory and `pg_ctl start` on a free loopback port, as the `postgres` user
 * when run as root (initdb refuses root). The outage is `pg_ctl stop -m immediate`, the same as
 * a crash of the database server (recovery from the WAL on restart).
 *
 * While it is down, `/token` answers 503 `temporarily_unavailable` with `Retry-After` (never 500,
 * never a token), the server keeps running, and after `pg_ctl start` it answers again without a
 * restart. No partial writes: a refresh rotation answered 503 did not happen (its token still
 * works), every acknowledged token works, and no rotated one does. `DATABASE_URL` is required
 * like in every PostgreSQL suite.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAuthorizationServer, type AuthorizationServer } from '../src/index.js'
import { freePort } from '@keybound/test-kit/net'
import { requireDatabaseUrl } from '@keybound/test-kit/postgres'
import { recordReliability } from '@keybound/test-kit/reliability'
import { baseConfig, basic, codeForm, Dpop, getCode, type Answer } from './support.js'

requireDatabaseUrl('the PostgreSQL fault suite')

const BIN = (() => {
  const versions = readdirSync('/usr/lib/postgresql').sort().reverse()
  const bin = versions
    .map((v) => `/usr/lib/postgresql/${v}/bin`)
    .find((dir) => existsSync(`${dir}/initdb`))
  if (bin === undefined) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql')
  return bin
})()
const asRoot = process.getuid?.() === 0

let directory: string
let port: number
let server: AuthorizationServer | undefined
let issuer: string

/** Runs a PostgreSQL tool, as `postgres` when this process is root. */
function pgTool(tool: string, args: string[]): void {
  const command = asRoot ? 'runuser' : join(BIN, tool)
  const argv = asRoot ? ['-u', 'postgres', '--', join(BIN, tool), ...args] : args
  execFileSync(command, argv, { stdio: 'ignore', timeout: 30_000 })
}

function startPostgres(): void {
  pgTool('pg_ctl', [
    '-D',
    join(directory, 'data'),
    '-l',
    join(directory, 'log'),
    '-w',
    '-t',
    '20',
    '-o',
    `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1`,
    'start',
  ])
}

function stopPostgres(): void {
  pgTool('pg_ctl', ['-D', join(directory, 'data'), '-m', 'immediate', '-w', 'stop'])
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'kb-pg-'))
  if (asRoot) execFileSync('chown', ['postgres:postgres', directory])
  port = await freePort()
  pgTool('initdb', ['-D', join(directory, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync'])
  startPostgres()
  const config = {
    ...(await baseConfig({ rateLimits: { enabled: false } })),
    storage: { databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, dataDir: directory },
  }
  server = await createAuthorizationServer(config, { logger: false, env: {} })
  issuer = await server.listen()
}, 60_000)

afterAll(async () => {
  await server?.close().catch(() => {})
  try {
    stopPostgres()
  } catch {
    // already stopped
  }
  rmSync(directory, { recursive: true, force: true })
})

interface Chain {
  dpop: Dpop
  current: string
  rotated: string[]
  /** The last rotation was sent before the cut and failed: it may or may not have committed. */
  ambiguous: boolean
}

describe('the authorization server when PostgreSQL goes down and comes back', () => {
  it('answers 503 temporarily_unavailable, writes nothing partial, and recovers without a restart', async () => {
    const chains: Chain[] = []
    for (let i = 0; i < 6; i++) {
      const dpop = await Dpop.create()
      const { code, verifier } = await getCode(issuer, 'public-app')
      const answer = await dpop.post(`${issuer}/token`, codeForm('public-app', code, verifier))
      expect(answer.status, answer.text).toBe(200)
      chains.push({ dpop, current: answer.body.refresh_token, rotated: [], ambiguous: false })
    }
    const refresh = (chain: Chain, token: string): Promise<Answer> =>
      chain.dpop.post(`${issuer}/token`, {
        grant_type: 'refresh_token',
        client_id: 'public-app',
        refresh_token: token,
      })

    let stoppedAt = Number.POSITIVE_INFINITY
    let restartedAt = Number.POSITIVE_INFINITY
    let phase: 'up' | 'down' | 'back' = 'up'
    let stop = false
    const statuses = { up: [] as number[], down: [] as number[], back: [] as number[] }
    let requests = 0
    const loops = chains.map(async (chain) => {
      const deadline = performance.now() + 20_000
      while (!stop && performance.now() < deadline) {
        const sentAt = performance.now()
        const sentIn = phase
        const answer = await refresh(chain, chain.current)
        requests++
        statuses[sentIn].push(answer.status)
        if (answer.status === 200) {
          chain.rotated.push(chain.current)
          chain.current = answer.body.refresh_token
          chain.ambiguous = false
        } else {
          expect([answer.status, answer.body?.error], answer.text).toEqual([
            503,
            'temporarily_unavailable',
          ])
          expect(answer.headers.get('retry-after')).toBe('1')
          // Sent while the database was still up: the commit may have happened before the cut.
          if (sentAt < stoppedAt + 50 && sentIn !== 'back') chain.ambiguous = true
        }
        await sleep(10)
      }
    })
    const service = await Dpop.create()

    await sleep(500)
    phase = 'down'
    stoppedAt = performance.now()
    stopPostgres()
    await sleep(1_500)
    // JWT access tokens for client_credentials need no write: that may still work; it must not 500.
    const during = await service.post(
      `${issuer}/token`,
      { grant_type: 'client_credentials' },
      basic('service'),
    )
    expect([200, 503]).toContain(during.status)
    expect((await fetch(`${issuer}/healthz`)).status).toBe(503)

    startPostgres()
    phase = 'back'
    restartedAt = performance.now()
    let recoveredAt: number | undefined
    // Recovered when a refresh rotation (a write) sent after the restart is answered 200.
    while (performance.now() - restartedAt < 10_000) {
      if (statuses.back.includes(200)) {
        recoveredAt = performance.now()
        break
      }
      await sleep(20)
    }
    expect(recoveredAt, 'the server did not recover after PostgreSQL came back').toBeDefined()
    await sleep(500)
    stop = true
    await Promise.all(loops)

    expect(statuses.up.filter((s) => s === 200).length).toBeGreaterThan(0)
    expect(statuses.down.length).toBeGreaterThan(0)
    expect(statuses.down.every((s) => s === 503 || s === 200)).toBe(true)
    expect(statuses.back.filter((s) => s === 200).length).toBeGreaterThan(0)

    // No partial writes and no lost ones: every acknowledged token works now (also those whose
    // rotation was answered 503), and no rotated one does.
    let lostWrites = 0
    let strict = 0
    for (const chain of chains) {
      if (chain.ambiguous) continue
      strict++
      const answer = await refresh(chain, chain.current)
      if (answer.status !== 200) lostWrites++
      else {
        chain.rotated.push(chain.current)
        chain.current = answer.body.refresh_token
      }
    }
    expect(strict).toBeGreaterThanOrEqual(3)
    expect(lostWrites).toBe(0)
    let resurrected = 0
    for (const chain of chains) {
      for (const token of chain.rotated) {
        const answer = await refresh(chain, token)
        if (answer.status === 200) resurrected++
        else expect([answer.status, answer.body.error]).toEqual([400, 'invalid_grant'])
      }
    }
    expect(resurrected).toBe(0)
    const down = statuses.down.filter((s) => s === 503).length
    recordReliability('as-postgres-outage', {
      faultsInjected: 1,
      requestsServed: requests + 3,
      lostWrites,
      notes: [
        `AS PostgreSQL outage: ${down} rotations answered 503 while down, recovered ` +
          `${Math.round(recoveredAt! - restartedAt)} ms after pg_ctl start; ${strict} chains checked strictly`,
      ],
    })
    console.info(
      `postgres outage: ${requests} rotations, ${down} × 503 while down, recovered ${Math.round(recoveredAt! - restartedAt)} ms after restart`,
    )
  }, 60_000)
})
