/**
 * `keybound curl` against a real resource server on loopback (`@keybound/server` with nonces
 * on and a local issuer serving its JWKS over HTTP): the nonce challenge is answered once, the
 * bound token works with its key and is refused with another.
 */
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { exportJWK, generateKeyPair as generateIssuerKey, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { protect } from '@keybound/server/node'
import { listen } from '@keybound/test-kit/net'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const options = { env: { ...process.env, ...env } }
    execFile(process.execPath, [BIN, ...args], options, (error, stdout, stderr) => {
      resolve({
        code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
        stdout,
        stderr,
      })
    })
  })
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
  const issuer = (await listen(issuerServer)).url

  apiServer = createServer()
  apiUrl = (await listen(apiServer)).url
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
      (_request, response, identity) => {
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

describe('keybound curl on plain HTTP details', () => {
  let echoServer: Server
  let echoUrl: string

  beforeAll(async () => {
    // Answers with what it received, as JSON without a final newline.
    echoServer = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString()))
      request.on('end', () => {
        response.setHeader('content-type', 'application/json')
        response.end(
          JSON.stringify({
            method: request.method,
            contentType: request.headers['content-type'],
            body,
            hasProof: typeof request.headers.dpop === 'string',
          }),
        )
      })
    })
    echoUrl = (await listen(echoServer)).url
  })

  afterAll(() => {
    echoServer?.close()
  })

  it('-d sends a form body by default, like curl, and the output ends with a newline', async () => {
    const result = await runCli(['curl', '-d', 'a=1&b=2', `${echoUrl}/form`])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.endsWith('}\n')).toBe(true)
    expect(JSON.parse(result.stdout)).toEqual({
      method: 'POST',
      contentType: 'application/x-www-form-urlencoded',
      body: 'a=1&b=2',
      hasProof: true,
    })
    const json = await runCli([
      'curl',
      '-X',
      'put',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"a":1}',
      `${echoUrl}/json`,
    ])
    expect(JSON.parse(json.stdout)).toMatchObject({
      method: 'PUT',
      contentType: 'application/json',
      body: '{"a":1}',
    })
  })

  it('names the cause of a refused connection', async () => {
    const closed = createServer()
    const url = (await listen(closed)).url
    await new Promise((resolve) => closed.close(resolve))
    const port = new URL(url).port
    const result = await runCli(['curl', `${url}/nothing-listens`])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(
      new RegExp(
        `^keybound: request to ${url} failed: ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n`,
        'm',
      ),
    )
  })

  it('the plain-http refusal names --insecure-http', async () => {
    const result = await runCli(['curl', 'http://api.example.com/notes'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(
      /^keybound: refusing to send a DPoP proof or token to plain http:\/\/api\.example\.com: add --insecure-http to allow it \(never in production\)\n/m,
    )
  })

  it('help lists the algorithms, Ed25519 included', async () => {
    const result = await runCli(['curl', '--help'])
    expect(result.stdout).toMatch(/"Ed25519"/)
    expect(result.stdout).toMatch(/application\/x-www-form-urlencoded/)
  })
})

describe('keybound curl names why a request failed', () => {
  let tlsServer: Server
  let tlsUrl: string
  let certificate: string

  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, as a local test server has.
    const key = join(workDir, 'tls-key.pem')
    certificate = join(workDir, 'tls-cert.pem')
    await promisify(execFile)('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', key, '-out', certificate, '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ])
    tlsServer = createTlsServer(
      { key: await readFile(key), cert: await readFile(certificate) },
      (_request, response) => response.end('reached\n'),
    )
    tlsUrl = (await listen(tlsServer)).url.replace('http:', 'https:')
  })

  afterAll(() => {
    tlsServer?.close()
  })

  it('an unknown host: the DNS error and the name', async () => {
    const result = await runCli(['curl', 'https://no-such-host.invalid/notes'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(
      /^keybound: request to https:\/\/no-such-host\.invalid failed: (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid\n/m,
    )
  })

  it('an untrusted certificate: the TLS code, and NODE_EXTRA_CA_CERTS, which fixes it', async () => {
    const refused = await runCli(['curl', `${tlsUrl}/notes`])
    expect(refused.code).toBe(2)
    // The words in parentheses are Node's own, and Node 24 added a hint about --use-system-ca.
    expect(refused.stderr).toMatch(
      new RegExp(
        `^keybound: request to ${tlsUrl} failed: DEPTH_ZERO_SELF_SIGNED_CERT \\(self[- ]signed certificate[^)\n]*\\): to trust a private CA, set NODE_EXTRA_CA_CERTS=<ca\\.pem>\n`,
        'm',
      ),
    )
    const trusted = await runCli(['curl', `${tlsUrl}/notes`], { NODE_EXTRA_CA_CERTS: certificate })
    expect(trusted.code, trusted.stderr).toBe(0)
    expect(trusted.stdout).toBe('reached\n')
  })

  it('a port fetch never calls: the reason fetch gives', async () => {
    const result = await runCli(['curl', 'http://127.0.0.1:6000/notes'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(
      /^keybound: request to http:\/\/127\.0\.0\.1:6000 failed: bad port\n/m,
    )
  })
})
