/**
 * The README's token-exchange recipe, run as written: `keybound keygen`, then two
 * `keybound curl` calls against a real Keybound authorization server on loopback (nonces on):
 * a client_credentials token, then its exchange (RFC 8693) for a narrower token aimed at
 * another API, bound to the same key.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createAuthorizationServer,
  TOKEN_EXCHANGE_GRANT,
  type AuthorizationServer,
} from '@keybound/authorization-server'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
const run = promisify(execFile)
const SECRET = 'orders-secret-0123456789abcdef'
const BILLING = 'https://billing.example.com/'

let workDir: string
let server: AuthorizationServer
let issuer: string

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-exchange-'))
  server = await createAuthorizationServer(
    {
      clients: [
        {
          client_id: 'orders',
          client_secret: SECRET,
          grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
          scope: 'orders:read billing:read',
        },
      ],
      resources: [{ identifier: BILLING }],
      storage: { dataDir: workDir },
    },
    { logger: false as never, env: {} },
  )
  issuer = await server.listen()
})

afterAll(async () => {
  await server?.close()
  await rm(workDir, { recursive: true, force: true })
})

function payloadOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())
}

describe('README recipe: token exchange with keybound curl', () => {
  it('exchanges a held token for a narrower one bound to the same key', async () => {
    const key = join(workDir, 'orders.jwk')
    const keygen = await run(process.execPath, [BIN, 'keygen', '--out', key])
    const jkt = /jkt: (\S+)/.exec(keygen.stdout)?.[1]
    const basic = `Authorization: Basic ${Buffer.from(`orders:${SECRET}`).toString('base64')}`
    const curl = (data: string) =>
      run(process.execPath, [BIN, 'curl', '-k', key, '-H', basic, '-d', data, `${issuer}/token`])
    const subject = JSON.parse(
      (await curl('grant_type=client_credentials&scope=orders:read billing:read')).stdout,
    ) as { access_token: string }
    const exchanged = JSON.parse(
      (
        await curl(
          `grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=${subject.access_token}&subject_token_type=urn:ietf:params:oauth:token-type:access_token&resource=${BILLING}&scope=billing:read`,
        )
      ).stdout,
    ) as Record<string, string>
    expect(exchanged).toMatchObject({
      token_type: 'DPoP',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'billing:read',
    })
    expect(payloadOf(exchanged.access_token!)).toMatchObject({ aud: BILLING, cnf: { jkt } })
  })
})
