/**
 * `keybound explain` words the iat window that `verifyProof` applies, using core's defaults
 * from `@keybound/core/internal`: at each edge of the window the explanation and the verifier
 * agree. A default copied into the CLI that drifts from core's fails here.
 */
import { createProof, generateKeyPair, verifyProof, type DPoPKeyPair } from '@keybound/core'
import { DEFAULT_CLOCK_TOLERANCE, DEFAULT_MAX_AGE } from '@keybound/core/internal'
import { beforeAll, describe, expect, it } from 'vitest'
import { explainProof } from '../src/lib/explain-proof.js'

const URL_ = 'https://api.example.test/items'
const NOW = 1_900_000_000

let key: DPoPKeyPair
beforeAll(async () => {
  key = await generateKeyPair('ES256')
})

async function judge(iat: number): Promise<{ explained: string; verified: boolean }> {
  const proof = await createProof(key, { htm: 'GET', htu: URL_, iat })
  const checks = await explainProof(proof, { method: 'GET', url: URL_, now: NOW })
  const verified = await verifyProof(
    proof,
    { method: 'GET', url: URL_ },
    { replayStore: false, now: () => NOW * 1000 },
  ).then(
    () => true,
    () => false,
  )
  return { explained: checks.find((check) => check.check === 'iat')!.status, verified }
}

describe('keybound explain: the iat window', () => {
  it.each([
    ['oldest accepted', NOW - DEFAULT_MAX_AGE, 'pass', true],
    ['one second too old', NOW - DEFAULT_MAX_AGE - 1, 'fail', false],
    ['furthest ahead accepted', NOW + DEFAULT_CLOCK_TOLERANCE, 'pass', true],
    ['one second too far ahead', NOW + DEFAULT_CLOCK_TOLERANCE + 1, 'fail', false],
  ])(
    'agrees with verifyProof on core default window: %s (D50)',
    async (_, iat, explained, verified) => {
      expect(await judge(iat)).toEqual({ explained, verified })
    },
  )
})
