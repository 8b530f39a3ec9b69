/**
 * The `keybound` command, run as a child process: exit codes and output of every command, and
 * `explain` on broken proofs, each of which must be blamed on the right check.
 */
import { execFile } from 'node:child_process'
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
const API = 'https://api.example.com/v1/items'
const TOKEN = 'access-token-for-the-cli-tests'

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

function runCli(args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr })
    })
    child.stdin?.end(input ?? '')
  })
}

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url')
const json = (value: unknown): string => b64(JSON.stringify(value))
const ath = (token: string): string => createHash('sha256').update(token).digest('base64url')

let workDir: string
let keyFile: string
let privateKey: KeyObject
let publicJwk: Record<string, unknown>

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

/** Signs arbitrary header and payload JSON with the test key (ES256, JWS R||S form). */
function signParts(
  header: unknown,
  payload: unknown,
  encoding: 'ieee-p1363' | 'der' = 'ieee-p1363',
): string {
  const input = `${typeof header === 'string' ? header : json(header)}.${typeof payload === 'string' ? payload : json(payload)}`
  return `${input}.${b64(sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: encoding }))}`
}

function goodHeader(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk, ...extra }
}

function goodClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    jti: `jti-${Math.random()}`,
    htm: 'GET',
    htu: API,
    iat: nowSeconds(),
    ath: ath(TOKEN),
    ...extra,
  }
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-cli-'))
  keyFile = join(workDir, 'key.json')
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  privateKey = pair.privateKey
  publicJwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
})

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true })
})

describe('keybound keygen, thumbprint, proof, verify', () => {
  it('prints help for every command and exits 0', async () => {
    for (const command of [[], ['keygen'], ['thumbprint'], ['proof'], ['verify'], ['explain']]) {
      const result = await runCli([...command, '--help'])
      expect(result.code, command.join(' ')).toBe(0)
      expect(result.stdout).toMatch(/Usage: keybound/)
    }
  })

  it('keygen writes a private key with mode 0600 and refuses to overwrite it', async () => {
    const result = await runCli(['keygen', '--alg', 'ES256', '--out', keyFile, '--json'])
    expect(result.code).toBe(0)
    const summary = JSON.parse(result.stdout) as { jkt: string; publicJwk: Record<string, unknown> }
    expect(summary.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(summary.publicJwk).not.toHaveProperty('d')
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(keyFile, 'utf8'))).toHaveProperty('d')
    const again = await runCli(['keygen', '--out', keyFile])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/EEXIST|exists/)
  })

  it('keygen writes PEM for EdDSA, and thumbprint reads it back', async () => {
    const pemFile = join(workDir, 'ed.pem')
    const made = await runCli([
      'keygen',
      '--alg',
      'EdDSA',
      '--format',
      'pem',
      '--out',
      pemFile,
      '--json',
    ])
    expect(made.code).toBe(0)
    expect(await readFile(pemFile, 'utf8')).toMatch(/BEGIN PRIVATE KEY/)
    const printed = await runCli(['thumbprint', pemFile])
    expect(printed.stdout.trim()).toBe((JSON.parse(made.stdout) as { jkt: string }).jkt)
  })

  it('thumbprint reads a JWK from stdin (RFC 7638 §3.1 vector)', async () => {
    const rsa = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    }
    const result = await runCli(['thumbprint', '-'], JSON.stringify(rsa))
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  })

  it('proof signs a proof that verify accepts, and verify exits 1 with the code otherwise', async () => {
    const made = await runCli([
      'proof',
      '--key',
      keyFile,
      '-m',
      'POST',
      '-u',
      `${API}?page=2#top`,
      '-t',
      TOKEN,
      '--json',
    ])
    expect(made.code).toBe(0)
    const { proof, jkt } = JSON.parse(made.stdout) as { proof: string; jkt: string }
    const claims = JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >
    expect(claims).toMatchObject({ htm: 'POST', htu: API, ath: ath(TOKEN) })

    const ok = await runCli(['verify', proof, '-m', 'POST', '-u', API, '-t', TOKEN, '--jkt', jkt])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(`valid: jkt ${jkt}`)

    const wrongMethod = await runCli([
      'verify',
      proof,
      '-m',
      'GET',
      '-u',
      API,
      '-t',
      TOKEN,
      '--json',
    ])
    expect(wrongMethod.code).toBe(1)
    expect(JSON.parse(wrongMethod.stdout)).toMatchObject({
      valid: false,
      code: 'ERR_DPOP_CLAIM_MISMATCH',
      claim: 'htm',
    })

    const fromStdin = await runCli(
      ['verify', '-', '-m', 'POST', '-u', API, '-t', 'another-token'],
      proof,
    )
    expect(fromStdin.code).toBe(1)
    expect(fromStdin.stdout).toMatch(/invalid: ERR_DPOP_CLAIM_MISMATCH: "ath"/)
  })

  it('reports bad input with exit code 2 and no stack trace', async () => {
    const missing = await runCli([
      'proof',
      '--key',
      join(workDir, 'nope.json'),
      '-m',
      'GET',
      '-u',
      API,
    ])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^keybound: /)
    expect(missing.stderr).not.toMatch(/\n\s+at /)
    const usage = await runCli(['verify'])
    expect(usage.code).toBe(2)
  })
})

describe('keybound explain', () => {
  const request = ['-m', 'GET', '-u', API, '-t', TOKEN]

  it('passes every check of a valid proof and exits 0', async () => {
    const result = await runCli([
      'explain',
      signParts(goodHeader(), goodClaims()),
      ...request,
      '--json',
    ])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as {
      valid: boolean
      checks: { check: string; status: string }[]
    }
    expect(report.valid).toBe(true)
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([])
  })

  // Each broken proof and the check that must be named as failing.
  const broken: { name: string; proof: () => string; check: string; args?: string[] }[] = [
    {
      name: 'alg none, unsigned',
      check: 'alg',
      proof: () => `${json(goodHeader({ alg: 'none' }))}.${json(goodClaims())}.`,
    },
    {
      name: 'HS256',
      check: 'alg',
      proof: () => signParts(goodHeader({ alg: 'HS256' }), goodClaims()),
    },
    {
      name: 'typ JWT',
      check: 'typ',
      proof: () => signParts(goodHeader({ typ: 'JWT' }), goodClaims()),
    },
    {
      name: 'no typ',
      check: 'typ',
      proof: () => signParts({ alg: 'ES256', jwk: publicJwk }, goodClaims()),
    },
    {
      name: 'crit present',
      check: 'crit',
      proof: () => signParts(goodHeader({ crit: ['exp'] }), goodClaims()),
    },
    {
      name: 'private key in jwk',
      check: 'jwk',
      proof: () => signParts(goodHeader({ jwk: { ...publicJwk, d: 'AAAA' } }), goodClaims()),
    },
    {
      name: 'RSA alg with an EC key',
      check: 'jwk',
      proof: () => signParts(goodHeader({ alg: 'RS256' }), goodClaims()),
    },
    {
      name: 'flipped signature byte',
      check: 'signature',
      proof: () => {
        const proof = signParts(goodHeader(), goodClaims())
        const signature = Buffer.from(proof.split('.')[2]!, 'base64url')
        signature[5] = signature[5]! ^ 0xff
        return `${proof.split('.').slice(0, 2).join('.')}.${b64(signature)}`
      },
    },
    {
      name: 'DER-encoded ECDSA signature',
      check: 'signature',
      proof: () => signParts(goodHeader(), goodClaims(), 'der'),
    },
    {
      name: 'two segments',
      check: 'compact',
      proof: () => `${json(goodHeader())}.${json(goodClaims())}`,
    },
    {
      name: 'two proofs joined by a comma',
      check: 'compact',
      proof: () =>
        `${signParts(goodHeader(), goodClaims())}, ${signParts(goodHeader(), goodClaims())}`,
    },
    {
      name: 'padded base64url header',
      check: 'header',
      proof: () => signParts(`${json(goodHeader())}==`, json(goodClaims())),
    },
    {
      name: 'duplicate claim name',
      check: 'payload',
      proof: () =>
        signParts(
          goodHeader(),
          b64(`{"jti":"a","jti":"b","htm":"GET","htu":"${API}","iat":${nowSeconds()}}`),
        ),
    },
    {
      name: 'no jti',
      check: 'claims',
      proof: () => signParts(goodHeader(), goodClaims({ jti: undefined })),
    },
    {
      name: 'iat as a string',
      check: 'claims',
      proof: () => signParts(goodHeader(), goodClaims({ iat: String(nowSeconds()) })),
    },
    {
      name: 'htm POST on a GET',
      check: 'htm',
      proof: () => signParts(goodHeader(), goodClaims({ htm: 'POST' })),
    },
    {
      name: 'htm in lower case',
      check: 'htm',
      proof: () => signParts(goodHeader(), goodClaims({ htm: 'get' })),
    },
    {
      name: 'htu on another port',
      check: 'htu',
      proof: () =>
        signParts(goodHeader(), goodClaims({ htu: 'https://api.example.com:8443/v1/items' })),
    },
    {
      name: 'htu path in another case',
      check: 'htu',
      proof: () => signParts(goodHeader(), goodClaims({ htu: 'https://api.example.com/v1/Items' })),
    },
    {
      name: 'htu over plain http',
      check: 'htu',
      proof: () => signParts(goodHeader(), goodClaims({ htu: 'http://api.example.com/v1/items' })),
    },
    {
      name: 'stale iat',
      check: 'iat',
      proof: () => signParts(goodHeader(), goodClaims({ iat: nowSeconds() - 3600 })),
    },
    {
      name: 'iat in the future',
      check: 'iat',
      proof: () => signParts(goodHeader(), goodClaims({ iat: nowSeconds() + 600 })),
    },
    {
      name: 'ath of another token',
      check: 'ath',
      proof: () => signParts(goodHeader(), goodClaims({ ath: ath('another token') })),
    },
    {
      name: 'no ath with a token',
      check: 'ath',
      proof: () => signParts(goodHeader(), goodClaims({ ath: undefined })),
    },
    {
      name: 'key not the one the token is bound to',
      check: 'jkt',
      proof: () => signParts(goodHeader(), goodClaims()),
      args: ['--jkt', '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'],
    },
    {
      name: 'nonce missing',
      check: 'nonce',
      proof: () => signParts(goodHeader(), goodClaims()),
      args: ['--nonce', 'server-nonce-1'],
    },
    {
      name: 'stale nonce',
      check: 'nonce',
      proof: () => signParts(goodHeader(), goodClaims({ nonce: 'server-nonce-0' })),
      args: ['--nonce', 'server-nonce-1'],
    },
    {
      name: 'alg not in the server list',
      check: 'alg-policy',
      proof: () => signParts(goodHeader(), goodClaims()),
      args: ['--algs', 'EdDSA PS256'],
    },
    {
      name: 'longer than 8 KiB',
      check: 'compact',
      proof: () => signParts(goodHeader(), goodClaims({ pad: 'x'.repeat(9000) })),
    },
  ]

  it(`has at least 20 broken proofs (${broken.length})`, () => {
    expect(broken.length).toBeGreaterThanOrEqual(20)
  })

  it.each(broken)('names the failing check: $name → $check', async ({ proof, check, args }) => {
    const text = proof()
    const result = await runCli(['explain', text, ...request, ...(args ?? []), '--json'])
    expect(result.code).toBe(1)
    // explain words core's verdict: keybound verify refuses the same proof (verify has no --algs).
    if (!args?.includes('--algs')) {
      const verified = await runCli(['verify', text, ...request, ...(args ?? [])])
      expect(verified.code, verified.stdout).toBe(1)
    }
    const report = JSON.parse(result.stdout) as {
      valid: boolean
      checks: { check: string; status: string; fix?: string }[]
    }
    expect(report.valid).toBe(false)
    const failing = report.checks.find((c) => c.check === check)
    expect(failing?.status, JSON.stringify(report.checks)).toBe('fail')
    expect(failing?.fix).toBeTruthy()
  })

  it('prints one human line per check with the values compared', async () => {
    await writeFile(join(workDir, 'proof.txt'), signParts(goodHeader(), goodClaims()))
    const proof = await readFile(join(workDir, 'proof.txt'), 'utf8')
    const result = await runCli(
      ['explain', '-', '-m', 'GET', '-u', 'https://api.example.com:8443/v1/items', '-t', TOKEN],
      proof,
    )
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(
      /FAIL {2}htu +htu https:\/\/api\.example\.com\/v1\/items does not match request URL https:\/\/api\.example\.com:8443\/v1\/items: the port differs/,
    )
    expect(result.stdout).toMatch(/fix: .*public base URL/)
    expect(result.stdout).toMatch(/PASS {2}signature/)
    expect(result.stdout).toMatch(/result: 1 check\(s\) failed: htu/)
  })
})

describe('keybound explain says only what core decides', () => {
  const insecure = 'http://api.example.com/v1/items'

  it('refuses plain http outside loopback in htu, as verifyProof does (the old drift)', async () => {
    const proof = signParts(goodHeader(), goodClaims({ htu: insecure }))
    const args = ['-m', 'GET', '-u', insecure, '-t', TOKEN]
    const verified = await runCli(['verify', proof, ...args])
    expect(verified.code).toBe(1)
    const explained = await runCli(['explain', proof, ...args, '--json'])
    expect(explained.code).toBe(1)
    const report = JSON.parse(explained.stdout) as {
      status: string
      checks: { check: string; status: string; detail: string }[]
    }
    expect(report.status).toBe('fail')
    const htu = report.checks.find((c) => c.check === 'htu')
    expect(htu).toMatchObject({ status: 'fail' })
    expect(htu?.detail).toMatch(/plain http outside loopback/)
  })

  it('accepts plain http on loopback, as verifyProof does', async () => {
    const local = 'http://127.0.0.1:4001/v1/items'
    const proof = signParts(goodHeader(), goodClaims({ htu: local }))
    const args = ['-m', 'GET', '-u', local, '-t', TOKEN]
    expect((await runCli(['verify', proof, ...args])).code).toBe(0)
    expect((await runCli(['explain', proof, ...args])).code).toBe(0)
  })
})

describe('keybound explain wording', () => {
  it('without -m and -u says which checks were skipped and does not call it a pass', async () => {
    const proof = signParts(goodHeader(), goodClaims())
    const human = await runCli(['explain', proof])
    expect(human.code).toBe(3)
    expect(human.stdout).not.toMatch(/every check passed|accepts this proof/)
    expect(human.stdout).toMatch(/^SKIP {2}htm /m)
    expect(human.stdout).toMatch(/^SKIP {2}htu /m)
    expect(human.stdout).toMatch(
      /^result: INCOMPLETE, not a pass: .*give --method and --url.*not checked: .*htm, htu/m,
    )
    const json = JSON.parse((await runCli(['explain', proof, '--json'])).stdout) as {
      valid: boolean
      status: string
      skipped: string[]
    }
    expect(json).toMatchObject({ valid: false, status: 'incomplete' })
    expect(json.skipped).toEqual(expect.arrayContaining(['htm', 'htu', 'ath', 'jkt', 'nonce']))
  })

  it('recognises an access token given instead of a proof', async () => {
    const token = signParts(
      { typ: 'at+jwt', alg: 'ES256', kid: 'as-key' },
      {
        iss: 'https://as.example.com',
        aud: 'https://api.example.com',
        sub: 'alice',
        exp: nowSeconds() + 300,
        cnf: { jkt: 'abc' },
      },
    )
    const result = await runCli(['explain', token, ...['-m', 'GET', '-u', API]])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/this is an access token, not a DPoP proof/)
    expect(result.stdout).toMatch(/fix: pass the value of the DPoP request header/)
    expect(result.stdout).not.toMatch(/htm undefined/)
  })

  it('advises the upper-case method for -m post', async () => {
    const proof = signParts(goodHeader(), goodClaims())
    const result = await runCli(['explain', proof, '-m', 'post', '-u', API, '-t', TOKEN])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/htm GET does not match request method POST/)
    expect(result.stdout).toMatch(/fix: make a new proof with htm "POST"/)
    expect(result.stdout).not.toMatch(/"post"/)
  })

  it('words the iat window as a sentence', async () => {
    const result = await runCli([
      'explain',
      signParts(goodHeader(), goodClaims()),
      ...['-m', 'GET', '-u', API, '-t', TOKEN],
    ])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(
      /PASS {2}iat +iat \S+ lies in the accepted window, 60 s before to 10 s after server time \S+\n/,
    )
    expect(result.stdout).not.toMatch(/is within the window is/)
    expect(result.stdout).toMatch(/^result: verifyProof accepts this proof for this request/m)
  })
})

describe('keybound methods and verify refusals', () => {
  it('proof -m get signs GET, and verify -m get accepts it', async () => {
    const methodKey = join(workDir, 'method-key.json')
    expect((await runCli(['keygen', '--out', methodKey])).code).toBe(0)
    const made = await runCli(['proof', '-k', methodKey, '-m', 'get', '-u', API, '--json'])
    expect(made.code).toBe(0)
    const { proof } = JSON.parse(made.stdout) as { proof: string }
    const claims = JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()) as {
      htm: string
    }
    expect(claims.htm).toBe('GET')
    expect((await runCli(['verify', proof, '-m', 'get', '-u', API])).code).toBe(0)
  })

  it('a refusal shows the expected and found values and points to explain', async () => {
    const proof = signParts(goodHeader(), goodClaims({ htm: 'get' }))
    const result = await runCli(['verify', proof, '-m', 'GET', '-u', API, '-t', TOKEN])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/^invalid: ERR_DPOP_CLAIM_MISMATCH: "htm"/)
    expect(result.stdout).toMatch(
      /htm get does not match request method GET: methods are case-sensitive/,
    )
    expect(result.stdout).toMatch(/ {4}expected: GET\n {4}found: {4}get\n/)
    expect(result.stdout).toMatch(/keybound explain, with the same arguments/)
    expect(result.stdout).not.toContain(TOKEN)

    const wrongToken = await runCli([
      'verify',
      proof,
      '-m',
      'get',
      '-u',
      API,
      '-t',
      'other',
      '--json',
    ])
    expect(wrongToken.code).toBe(1)
    const report = JSON.parse(wrongToken.stdout) as {
      failed: { check: string; expected?: string; found?: string }[]
    }
    expect(report.failed).toContainEqual({
      check: 'ath',
      expected: ath('other'),
      found: ath(TOKEN),
    })
  })
})

describe('every verify refusal shows the expected and the found value', () => {
  const request = ['-m', 'GET', '-u', API, '-t', TOKEN]
  const resigned = (header: Record<string, unknown>) => signParts(goodHeader(header), goodClaims())
  const cases: [string, () => string, string[], RegExp][] = [
    ['compact', () => 'not-a-jwt', [], /found: {4}1 dot-separated part\(s\), 9 characters\n/],
    ['typ', () => resigned({ typ: 'JWT' }), [], /found: {4}typ "JWT"\n/],
    ['crit', () => resigned({ crit: ['exp'] }), [], /found: {4}crit \["exp"\]\n/],
    ['alg', () => resigned({ alg: 'HS256' }), [], /found: {4}alg "HS256"\n/],
    [
      'signature',
      // One proof's header and payload with another proof's signature.
      () =>
        [
          ...signParts(goodHeader(), goodClaims()).split('.').slice(0, 2),
          signParts(goodHeader(), goodClaims()).split('.')[2],
        ].join('.'),
      [],
      /found: {4}a signature that does not verify with that key\n/,
    ],
    [
      'claims',
      () => signParts(goodHeader(), { htm: 'GET', htu: API, iat: '1' }),
      [],
      /found: {4}jti missing, htm string, htu string, iat string\n/,
    ],
    [
      'jkt',
      () => signParts(goodHeader(), goodClaims()),
      ['--jkt', 'A'.repeat(43)],
      /found: {4}\S{43}\n/,
    ],
    [
      'nonce',
      () => signParts(goodHeader(), goodClaims()),
      ['--nonce', 'n-1'],
      /found: {4}\(no nonce\)\n/,
    ],
    [
      'iat',
      () => signParts(goodHeader(), goodClaims({ iat: 1_000 })),
      [],
      /found: {4}1970-01-01T00:16:40Z\n/,
    ],
  ]

  it.each(cases)('%s', async (check, makeProof, extra, found) => {
    const result = await runCli(['verify', makeProof(), ...request, ...extra])
    expect(result.code).toBe(1)
    const lines = result.stdout.split('\n')
    expect(lines[1]).toMatch(new RegExp(`^ {2}${check}: `))
    // The found line holds the value, not core's message again.
    expect(lines[3]).not.toBe(`    found:    ${lines[0]!.replace(/^invalid: [A-Z_]+: /, '')}`)
    expect(result.stdout).toMatch(/\n {4}expected: .+\n/)
    expect(result.stdout).toMatch(found)
    expect(result.stdout).toMatch(/keybound explain, with the same arguments\n$/)
  })

  it('keeps the message as found where the value says nothing (a signature not canonical, an htu that is no URL)', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const proof = signParts(goodHeader(), goodClaims())
    // ES256: 64 bytes in 86 characters; the last one's two low bits are unused.
    const last = alphabet[alphabet.indexOf(proof.at(-1)!) ^ 1]!
    const noURL = signParts(goodHeader(), goodClaims({ htu: 'not a url' }))
    for (const [sent, message] of [
      [`${proof.slice(0, -1)}${last}`, /signature is not canonical base64url/],
      [noURL, /htu/],
    ] as const) {
      const result = await runCli(['verify', sent, ...request])
      expect(result.code).toBe(1)
      const [first, , , found] = result.stdout.split('\n')
      expect(first).toMatch(message)
      expect(found).toBe(`    found:    ${first!.replace(/^invalid: [A-Z_]+: /, '')}`)
    }
  })
})

describe('keybound help and errors', () => {
  it('help marks required options, and every missing one is named at once', async () => {
    const help = await runCli(['proof', '--help'])
    expect(help.stdout).toMatch(
      /-k, --key <file> +private key file \(JWK or PEM\) or pkcs11: URI \(required\)/,
    )
    expect(help.stdout).toMatch(/-m, --method <method> [^]*?\(signed upper case\) \(required\)/)
    expect(help.stdout).toMatch(/-u, --url <url> [^]*?\(required\)/)
    expect(help.stdout).not.toMatch(/--nonce <nonce> [^\n]*\(required\)/)
    const missing = await runCli(['proof'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(
      /^error: missing required options: -k, --key <file>, -m, --method <method>, -u, --url <url>\n/,
    )
    const verify = await runCli(['verify', 'x.y.z'])
    expect(verify.stderr).toMatch(
      /^error: missing required options: -m, --method <method>, -u, --url <url>\n/,
    )
  })

  it('keygen onto an existing file names --force, and --force replaces it with mode 0600', async () => {
    const file = join(workDir, 'existing.json')
    await writeFile(file, 'old', { mode: 0o644 })
    const refused = await runCli(['keygen', '--out', file])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toBe(
      `keybound: ${file} already exists; keygen does not overwrite a key: choose another --out, or add --force to replace it\n`,
    )
    expect(await readFile(file, 'utf8')).toBe('old')
    const replaced = await runCli(['keygen', '--out', file, '--force'])
    expect(replaced.code).toBe(0)
    expect(JSON.parse(await readFile(file, 'utf8'))).toHaveProperty('d')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('an unsupported -a lists the supported algorithms; help names Ed25519', async () => {
    const refused = await runCli(['keygen', '-a', 'HS256'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(
      /argument 'HS256' is invalid\. Allowed choices are ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA, Ed25519\./,
    )
    for (const command of ['keygen', 'proof'])
      expect((await runCli([command, '--help'])).stdout, command).toMatch(/"Ed25519"/)
    const made = await runCli(['keygen', '-a', 'Ed25519', '--json'])
    expect(made.code).toBe(0)
    expect(made.stdout).toMatch(/"alg": "Ed25519"/)
  })
})
