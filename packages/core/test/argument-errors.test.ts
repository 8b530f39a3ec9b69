/**
 * Every bad argument core refuses is `InvalidArgument` worded `<name> must be <what>`, with the
 * name in `details.argument` (ADR 0043, D39), so a caller reads the same shape whichever
 * function it called. One row per check; each call is made, never mocked.
 */
import {
  calculateAth,
  calculateJwkThumbprint,
  createNonceSource,
  createProof,
  generateKeyPair,
  importKeyPair,
  InvalidArgument,
  KeyboundError,
  MemoryReplayStore,
  toPublicJwk,
  verifyProof,
} from '@keybound/core'
import { describe, expect, it } from 'vitest'

const key = await generateKeyPair('ES256')
const URL_ = 'https://rs.example.test/items'
const proof = await createProof(key, { htm: 'GET', htu: URL_ })
const request = { method: 'GET', url: URL_ }
const { x } = key.publicJwk as { x: string }

const ROWS: { argument: string; call: () => unknown }[] = [
  { argument: 'key', call: () => createProof(undefined as never, { htm: 'GET', htu: URL_ }) },
  {
    argument: 'key.sign',
    call: () => createProof({ alg: 'ES256', publicJwk: key.publicJwk } as never, request as never),
  },
  { argument: 'options', call: () => createProof(key, undefined as never) },
  { argument: 'htm', call: () => createProof(key, { htm: 'GE T', htu: URL_ }) },
  { argument: 'htu', call: () => createProof(key, { htm: 'GET', htu: 'ftp://rs.example/x' }) },
  { argument: 'options', call: () => verifyProof(proof, request, undefined as never) },
  {
    argument: 'replayStore',
    call: () => verifyProof(proof, request, { replayStore: {} as never }),
  },
  { argument: 'request', call: () => verifyProof(proof, null as never, { replayStore: false }) },
  {
    argument: 'request.method',
    call: () => verifyProof(proof, { url: URL_ } as never, { replayStore: false }),
  },
  {
    argument: 'request.url',
    call: () => verifyProof(proof, { method: 'GET' } as never, { replayStore: false }),
  },
  { argument: 'accessToken', call: () => calculateAth('') },
  { argument: 'jwk.kty', call: () => calculateJwkThumbprint({ kty: 'DH' } as never) },
  {
    argument: 'jwk.y',
    call: () => calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x } as never),
  },
  { argument: 'jwk.y', call: () => toPublicJwk({ kty: 'EC', crv: 'P-256', x } as never) },
  { argument: 'modulusLength', call: () => generateKeyPair('PS256', { modulusLength: 1024 }) },
  { argument: 'jwk', call: () => importKeyPair(key.publicJwk as never) },
  { argument: 'maxEntries', call: () => new MemoryReplayStore({ maxEntries: 0 }) },
  { argument: 'secret', call: () => createNonceSource({ secret: 'too short' }) },
  {
    argument: 'stepSeconds',
    call: () => createNonceSource({ secret: 'k'.repeat(32), stepSeconds: 0.5 }),
  },
]

// A check may throw at once or reject the promise the function returns; both count.
async function errorOf(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  return undefined
}

describe("core's argument errors have one shape (D39)", () => {
  it.each(ROWS.map((row, index) => ({ ...row, index })))(
    'row $index: $argument',
    async ({ argument, call }) => {
      const error = await errorOf(call)
      expect(error).toBeInstanceOf(InvalidArgument)
      expect(error).toBeInstanceOf(KeyboundError)
      expect(error).toMatchObject({
        code: 'ERR_DPOP_INVALID_ARGUMENT',
        details: { argument },
        message: expect.stringMatching(new RegExp(`^${argument.replace('.', '\\.')} must be `)),
      })
    },
  )
})
