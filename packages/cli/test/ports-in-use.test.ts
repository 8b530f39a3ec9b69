/**
 * A port already in use, for each long-running command started as a child process: the error
 * names the port and the flag that moves it, and the process exits 2 without a stack trace.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

function runCli(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '', REDIS_URL: '' } },
      (error, _stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
          stderr,
        })
      },
    )
  })
}

async function listenOnFreePort(): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port
}

let workDir: string
let busy: Server

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-ports-'))
  busy = await listenOnFreePort()
})

afterAll(async () => {
  await new Promise((resolve) => busy.close(resolve))
  await rm(workDir, { recursive: true, force: true })
})

function inUse(port: number, flag: string): string {
  return `keybound: port ${port} is already in use: choose another with ${flag}, or stop what listens there\n`
}

describe('a port already in use names the flag that moves it', () => {
  it('keybound as: --port', async () => {
    const config = join(workDir, 'as.yaml')
    await writeFile(config, `storage: { dataDir: ${JSON.stringify(join(workDir, 'as-data'))} }\n`)
    const result = await runCli(['as', '--config', config, '--port', String(portOf(busy))])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(
      `keybound: port ${portOf(busy)} on 127.0.0.1 is already in use: choose another with --port (or PORT)\n`,
    )
  })

  it('keybound serve: the flag of the server that lost its port', async () => {
    // Two free ports for the API and the page: taken, read and released just before the start.
    const spare = [await listenOnFreePort(), await listenOnFreePort()]
    const [apiPort, pagePort] = spare.map(portOf)
    await Promise.all(spare.map((server) => new Promise((resolve) => server.close(resolve))))
    const flags = ['--api-port', String(apiPort), '--page-port', String(pagePort)]
    const dataDir = ['--data-dir', join(workDir, 'demo-data')]
    const result = await runCli(['serve', '--as-port', String(portOf(busy)), ...flags, ...dataDir])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(inUse(portOf(busy), '--as-port (or KEYBOUND_AS_PORT)'))
  })

  it('keybound gateway: --port, or listen.port in the file', async () => {
    const config = join(workDir, 'gateway.json')
    await writeFile(
      config,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: portOf(busy) },
        publicBaseUrl: 'https://api.example.com',
        upstream: { url: 'http://127.0.0.1:9' },
        tokens: {
          jwt: {
            issuer: 'https://as.example.com',
            audience: 'https://api.example.com',
            jwksUri: 'https://as.example.com/jwks',
          },
        },
        routes: [{ prefix: '/' }],
        log: { level: 'warn' },
      }),
    )
    const result = await runCli(['gateway', '--config', config])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(inUse(portOf(busy), `--port (or listen.port in ${config})`))
  })
})
