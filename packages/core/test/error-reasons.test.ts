/**
 * D40: a malformed proof's `reason` is a stable identifier a program can switch on, and the part
 * of the JWS it is about (and any value) is in `details`. It used to be a sentence with values
 * in it (`longer than 8192 characters`, `header JSON: duplicate member name`), which the CLI
 * parsed by prefix.
 */
import { generateKeyPair, ProofMalformed, verifyProof } from '@keybound/core'
import { beforeAll, describe, expect, it } from 'vitest'

const REQUEST = { method: 'GET', url: 'https://rs.example.test/items' } as const
const OPTIONS = { replayStore: false } as const
// Every reason core gives a malformed proof; docs/errors.md lists the same words.
const MALFORMED_REASONS = new Set([
  'missing',
  'too long',
  'not compact',
  'empty',
  'not utf-8',
  'not base64url',
  'not json',
  'not an object',
  'unexpected input',
])

const b64u = (text: string): string => Buffer.from(text, 'utf8').toString('base64url')

let header: string
let payload: string

beforeAll(async () => {
  const key = await generateKeyPair('ES256')
  header = b64u(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk }))
  payload = b64u(
    JSON.stringify({
      jti: 'j-1',
      htm: 'GET',
      htu: REQUEST.url,
      iat: Math.floor(Date.now() / 1000),
    }),
  )
})

async function refusalOf(proof: string): Promise<ProofMalformed> {
  const error: unknown = await verifyProof(proof, REQUEST, OPTIONS).then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ProofMalformed)
  return error as ProofMalformed
}

describe('D40 malformed proofs carry a stable reason and their details apart', () => {
  const cases: {
    name: string
    proof: () => string
    reason: string
    details: Record<string, unknown>
  }[] = [
    { name: 'empty proof', proof: () => '', reason: 'missing', details: { segment: 'compact' } },
    {
      name: 'proof over the length limit',
      proof: () => 'a'.repeat(9000),
      reason: 'too long',
      details: { segment: 'compact', maxLength: 8192 },
    },
    {
      name: 'two parts',
      proof: () => 'abc.def',
      reason: 'not compact',
      details: { segment: 'compact' },
    },
    {
      name: 'empty header',
      proof: () => `.${payload}.AA`,
      reason: 'empty',
      details: { segment: 'header' },
    },
    {
      name: 'header not base64url',
      proof: () => `a+b.${payload}.AA`,
      reason: 'not base64url',
      details: { segment: 'header' },
    },
    {
      name: 'header not JSON',
      proof: () => `${b64u('not json')}.${payload}.AA`,
      reason: 'not json',
      details: { segment: 'header' },
    },
    {
      name: 'header with a duplicate member',
      proof: () => `${b64u('{"typ":"dpop+jwt","typ":"jwt"}')}.${payload}.AA`,
      reason: 'not json',
      details: { segment: 'header', problem: 'duplicate member name' },
    },
    {
      name: 'header a JSON array',
      proof: () => `${b64u('[]')}.${payload}.AA`,
      reason: 'not an object',
      details: { segment: 'header' },
    },
    {
      name: 'payload not JSON',
      proof: () => `${header}.${b64u('{')}.AA`,
      reason: 'not json',
      details: { segment: 'payload' },
    },
    {
      name: 'signature not base64url',
      proof: () => `${header}.${payload}.a+b`,
      reason: 'not base64url',
      details: { segment: 'signature' },
    },
  ]

  it.each(cases)('$name', async ({ proof, reason, details }) => {
    const error = await refusalOf(proof())
    expect(error.reason).toBe(reason)
    expect(MALFORMED_REASONS.has(error.reason!)).toBe(true)
    expect(error.details).toMatchObject(details)
    // The message stays a sentence for people; the reason has no value in it.
    expect(error.message).toMatch(/^DPoP proof is not a well-formed JWT: /)
  })
})
