/**
 * The CLI with keys on a real SoftHSM2 token (its own, in a temporary directory): keygen creates
 * the key on the token and writes no key file, thumbprint agrees with the signer, proof makes
 * proofs core accepts, curl calls a loopback server that verifies the proof, and the failures
 * (wrong PIN, missing key, a PIN in the URI or on the command line) are one clear line, exit 2.
 */
import { createServer, type Server } from 'node:http'
import { readdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryReplayStore, verifyProof } from '@keybound/core'
import { openPkcs11Signer } from '@keybound/pkcs11'
import { runNode, type RunResult } from './support/run-node.js'
import { SOFTHSM_MODULE, startSoftHsm, type SoftHsm } from '@keybound/test-kit/softhsm'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
const PIN_ENV = 'KEYBOUND_CLI_TEST_PIN'
const PIN = '2468-cli'
const HTU = 'https://api.example.com/items'

// The child gets SOFTHSM2_CONF and the PIN variable from this process (beforeAll sets them).
function runCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runNode([BIN, ...args], env)
}

function keyUri(object: string, query = `&pin-source=env:${PIN_ENV}`): string {
  return `pkcs11:token=cli;object=${object}?module-path=${SOFTHSM_MODULE}${query}`
}

/** A one-line CLI error: exit 2, a single stderr line, no stack frame. */
function expectOneLineError(result: RunResult, text: string): void {
  expect(result.code).toBe(2)
  expect(result.stdout).toBe('')
  expect(result.stderr).toContain(text)
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
  expect(result.stderr).not.toMatch(/\n\s+at /)
}

let hsm: SoftHsm

beforeAll(() => {
  hsm = startSoftHsm()
  hsm.initToken('cli', PIN)
  process.env[PIN_ENV] = PIN // for the signer this process opens to compare thumbprints
})

afterAll(() => {
  hsm?.cleanup()
})

describe('keygen --pkcs11', () => {
  it('creates the key on the token, prints its JWK and thumbprint, writes no key file', async () => {
    const before = await readdir(process.cwd())
    const made = await runCli(['keygen', '--pkcs11', keyUri('made-here'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    const summary = JSON.parse(made.stdout) as { alg: string; jkt: string; publicJwk: object }
    expect(summary.alg).toBe('ES256')
    expect(summary.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256' })
    expect(summary.publicJwk).not.toHaveProperty('d')
    expect(await readdir(process.cwd())).toEqual(before)

    const signer = await openPkcs11Signer({ uri: keyUri('made-here') })
    try {
      expect(signer.jkt).toBe(summary.jkt)
    } finally {
      await signer.close()
    }
  })

  it('makes RSA keys with --alg PS256', async () => {
    const made = await runCli(['keygen', '--pkcs11', keyUri('rsa-key'), '--alg', 'PS256', '--json'])
    expect(made.code, made.stderr).toBe(0)
    expect(JSON.parse(made.stdout)).toMatchObject({ alg: 'PS256', publicJwk: { kty: 'RSA' } })
  })

  it('never replaces a key the URI already names', async () => {
    expect((await runCli(['keygen', '--pkcs11', keyUri('only-once')])).code).toBe(0)
    const again = await runCli(['keygen', '--pkcs11', keyUri('only-once')])
    expectOneLineError(again, 'the token already holds a key under this URI')
  })

  it('takes the PIN variable from --pin-env', async () => {
    const made = await runCli(
      ['keygen', '--pkcs11', keyUri('pin-env', ''), '--pin-env', 'OTHER_PIN', '--json'],
      { OTHER_PIN: PIN },
    )
    expect(made.code, made.stderr).toBe(0)
  })

  it('refuses key-file options', async () => {
    const result = await runCli(['keygen', '--pkcs11', keyUri('no-file'), '--out', 'key.json'])
    expectOneLineError(result, '--pkcs11 writes no key file')
  })
})

describe('thumbprint, proof and curl with a pkcs11: key', () => {
  let jkt: string
  let apiServer: Server
  let apiUrl: string

  beforeAll(async () => {
    const made = await runCli(['keygen', '--pkcs11', keyUri('agent'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    jkt = (JSON.parse(made.stdout) as { jkt: string }).jkt
    // A resource that accepts a request only with a DPoP proof core verifies.
    const replayStore = new MemoryReplayStore()
    apiServer = createServer((request, response) => {
      const url = `${apiUrl}${request.url ?? '/'}`
      verifyProof(
        String(request.headers.dpop),
        { method: request.method ?? 'GET', url },
        { replayStore },
      ).then(
        (verified) => response.end(JSON.stringify({ jkt: verified.jkt })),
        (error: { code?: string }) => {
          response.statusCode = 401
          response.end(JSON.stringify({ error: error.code }))
        },
      )
    })
    await new Promise<void>((resolve) => apiServer.listen(0, '127.0.0.1', resolve))
    apiUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`
  })

  afterAll(() => {
    apiServer?.close()
  })

  it('thumbprint is the thumbprint the signer reports', async () => {
    const printed = await runCli(['thumbprint', keyUri('agent')])
    expect(printed.code, printed.stderr).toBe(0)
    expect(printed.stdout.trim()).toBe(jkt)
  })

  it('proof signs on the token, and core verifies the proof', async () => {
    const made = await runCli(['proof', '-k', keyUri('agent'), '-m', 'post', '-u', HTU, '--json'])
    expect(made.code, made.stderr).toBe(0)
    const { proof, jkt: reported } = JSON.parse(made.stdout) as { proof: string; jkt: string }
    expect(reported).toBe(jkt)
    const verified = await verifyProof(
      proof,
      { method: 'POST', url: HTU },
      { replayStore: new MemoryReplayStore() },
    )
    expect(verified.jkt).toBe(jkt)
  })

  it('curl sends a proof the server verifies', async () => {
    const called = await runCli(['curl', '-k', keyUri('agent'), `${apiUrl}/items?page=2`])
    expect(called.code, called.stderr).toBe(0)
    expect(JSON.parse(called.stdout)).toEqual({ jkt })
  })

  it('a wrong PIN is one clear line, exit 2', async () => {
    const result = await runCli(['proof', '-k', keyUri('agent'), '-m', 'GET', '-u', HTU], {
      [PIN_ENV]: 'not-the-pin',
    })
    expectOneLineError(result, 'ERR_DPOP_PKCS11_PIN_INVALID: the token refused the PIN')
    expect(result.stderr).not.toContain('not-the-pin')
  })

  it.each([
    { command: 'proof', args: ['proof', '-k', keyUri('absent'), '-m', 'GET', '-u', HTU] },
    { command: 'thumbprint', args: ['thumbprint', keyUri('absent')] },
    { command: 'curl', args: ['curl', '-k', keyUri('absent'), 'http://127.0.0.1:9/'] },
  ])('$command: a missing key is one clear line, exit 2', async ({ args }) => {
    expectOneLineError(await runCli(args), 'ERR_DPOP_PKCS11_KEY_NOT_FOUND')
  })

  it('a PIN in the URI is refused and not repeated', async () => {
    const uri = keyUri('agent', '&pin-value=97531')
    const result = await runCli(['proof', '-k', uri, '-m', 'GET', '-u', HTU])
    expectOneLineError(result, 'pin-value: a PIN must not be written into the URI')
    expect(result.stderr).not.toContain('97531')
  })

  it('--pin-env takes a variable name, not the PIN', async () => {
    const args = ['proof', '-k', keyUri('agent', ''), '--pin-env', PIN, '-m', 'GET', '-u', HTU]
    const result = await runCli(args)
    expectOneLineError(result, '--pin-env must be the NAME of an environment variable')
    expect(result.stderr).not.toContain(PIN)
  })

  it('no PIN source at all is refused before the token is asked', async () => {
    const result = await runCli(['proof', '-k', keyUri('agent', ''), '-m', 'GET', '-u', HTU])
    expectOneLineError(result, 'no PIN source was given')
  })
})
