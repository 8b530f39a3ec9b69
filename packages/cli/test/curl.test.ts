/**
 * `keybound curl` against a real resource server on loopback (`@keybound/server` with nonces
 * on and a local issuer serving its JWKS over HTTP): the nonce challenge is answered once, the
 * bound token works with its key and is refused with another.
 */
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportJWK, generateKeyPair as generateIssuerKey, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { protect } from '@keybound/server/node'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) => {
      resolve({
        code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
        stdout,
        stderr,
      })
    })
  })
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

let workDir: string
let issuerServer: Server
let apiServer: Server
let apiUrl: string
let mintToken: (jkt: string) => Promise<string>

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-curl-'))
  const { privateKey, publicKey } = await generateIssuerKey('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'issuer-key', alg: 'ES256' }
  issuerServer = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys: [jwk] }))
  })
  const issuer = await listen(issuerServer)

  apiServer = createServer()
  apiUrl = await listen(apiServer)
  mintToken = (jkt) =>
    new SignJWT({ client_id: 'cli-test', scope: 'notes:read', cnf: { jkt } })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'issuer-key' })
      .setIssuer(issuer)
      .setAudience(apiUrl)
      .setSubject('alice')
      .setJti(`token-${Math.random()}`)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey)
  const resourceServer = createResourceServer({
    publicBaseUrl: apiUrl,
    accessTokens: jwtAccessTokens({ issuer, audience: apiUrl, jwksUri: `${issuer}/jwks` }),
    nonces: { secret: 'a nonce secret that is long enough for the test' },
  })
  apiServer.on(
    'request',
    protect(
      resourceServer,
      (request, response, identity) => {
        response.setHeader('content-type', 'application/json')
        response.end(JSON.stringify({ subject: identity.subject, jkt: identity.jkt }))
      },
      { scopes: ['notes:read'] },
    ),
  )
})

afterAll(async () => {
  apiServer?.close()
  issuerServer?.close()
  await rm(workDir, { recursive: true, force: true })
})

describe('keybound curl', () => {
  it('calls a DPoP API with the bound key, answering the nonce challenge once', async () => {
    const keyFile = join(workDir, 'client.json')
    const made = await runCli(['keygen', '--out', keyFile, '--json'])
    const { jkt } = JSON.parse(made.stdout) as { jkt: string }
    const token = await mintToken(jkt)

    const result = await runCli([
      'curl',
      '-v',
      '-i',
      '-f',
      '-k',
      keyFile,
      '-t',
      token,
      `${apiUrl}/notes?page=1`,
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^HTTP 200/)
    expect(JSON.parse(result.stdout.split('\n\n')[1]!)).toEqual({ subject: 'alice', jkt })
    // First attempt refused with use_dpop_nonce, then exactly one retry that carries the nonce.
    expect(result.stderr.match(/^> GET /gm)).toHaveLength(2)
    expect(result.stderr).toMatch(/< 401 .*\n< WWW-Authenticate: DPoP error="use_dpop_nonce"/)
    expect(result.stderr).toMatch(
      /htu http:\/\/127\.0\.0\.1:\d+\/notes, jti [\w-]+, with nonce, with ath\n< 200/,
    )
    expect(result.stderr).not.toContain(token)
  })

  it('is refused with another key (exit 22 with --fail) and shows the challenge', async () => {
    const token = await mintToken('0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I')
    const result = await runCli(['curl', '-f', '-i', '-t', token, `${apiUrl}/notes`])
    expect(result.code).toBe(22)
    expect(result.stdout).toMatch(/^HTTP 401/)
    expect(result.stdout).toMatch(
      /www-authenticate: DPoP error="invalid_token", error_description="Invalid DPoP key binding"/i,
    )
    expect(result.stderr).toMatch(/no --key given: using a new ES256 key/)
  })
})
