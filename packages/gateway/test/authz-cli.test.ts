/**
 * `keybound authz --config <file>` as an operator runs it: the config check, then a child
 * process that answers a check and exits 0 after a graceful stop on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { send } from './support/http.js'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import { ISSUER, clientKey, dpopHeaders } from './support/fixture.js'
import { forwarded, verifyConfig } from './support/verify.js'

const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url))

let issuer: TestIssuer
let dir: string
let file: string

beforeAll(async () => {
  issuer = await startTestIssuer(ISSUER)
  dir = await mkdtemp(join(tmpdir(), 'keybound-authz-cli-'))
  file = join(dir, 'gateway.yaml')
  await writeFile(file, stringify(verifyConfig(issuer)))
})

afterAll(async () => {
  await issuer.close()
  await rm(dir, { recursive: true, force: true })
})

describe('keybound authz', () => {
  it('validates a config without an upstream with --check', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      BIN,
      'authz',
      '--config',
      file,
      '--check',
    ])
    expect(stdout).toContain('OK (9 routes)')
  })

  it('answers checks until SIGTERM, then exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'authz', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      let output = ''
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start-up line: ${output}`)), 20_000)
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk
          const found = /"url":"(http:[^"]+)".*"verify service listening"/.exec(output)
          if (found !== null) {
            clearTimeout(timer)
            resolve(found[1]!)
          }
        })
      })
      const key = await clientKey()
      const token = await issuer.mint({ jkt: key.jkt })
      const answer = await send(`${url}/check`, {
        headers: [
          ...(await dpopHeaders(key, token, 'GET', '/items/1')),
          ...forwarded('GET', '/items/1'),
        ],
      })
      expect(answer.status).toBe(200)
      expect(answer.headers['x-keybound-subject']).toBe('alice')
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
  })
})
