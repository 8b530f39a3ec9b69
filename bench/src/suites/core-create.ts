/**
 * Proof creation, ES256 and EdDSA: a resource-server request with an access token (so `ath` is
 * computed on every proof), fresh `jti` and `iat` each time. Every contender's output is checked
 * once before timing: it must carry a valid signature under the key in its own header.
 */
import {
  createHash,
  createPublicKey,
  KeyObject,
  randomUUID,
  sign,
  verify,
  type webcrypto,
} from 'node:crypto'
import { createProof as createNode, generateKeyPair, type DPoPKeyPair } from '@keybound/core/node'
import { createProof as createWebcrypto } from '@keybound/core/webcrypto'
import { generateProof } from 'dpop'
import { SignJWT } from 'jose'
import {
  INSTRUCTION_WARMUP_OPS,
  type InstructionCase,
  type InstructionWorkload,
} from '../lib/instructions.js'
import type { Contender } from '../lib/measure.js'
import { nodeParams, REQUEST, type BenchAlg } from '../lib/proofs.js'
import { throughputCase, type CaseResult, type Suite, type SuiteContext } from '../lib/suite.js'

const KEYBOUND_NODE = 'keybound node'
const RAW_SIGN = 'raw crypto.sign'
const ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'

const b64uJson = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url')

/** Checks the signature of a compact proof against the `jwk` in its own header. */
function checkSelfSigned(proof: string, contender: string): void {
  const [header, payload, signature] = proof.split('.') as [string, string, string]
  const { alg, jwk, typ } = JSON.parse(Buffer.from(header, 'base64url').toString()) as {
    alg: string
    jwk: Record<string, string>
    typ: string
  }
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const ok =
    typ === 'dpop+jwt' &&
    claims.htm === REQUEST.method &&
    claims.htu === REQUEST.url &&
    typeof claims.ath === 'string' &&
    verify(
      alg === 'ES256' ? 'sha256' : null,
      Buffer.from(`${header}.${payload}`),
      { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature, 'base64url'),
    )
  if (!ok) throw new Error(`${contender} produced an invalid proof`)
}

function contenders(alg: BenchAlg, pair: DPoPKeyPair): Contender[] {
  const { hash, options } = nodeParams(alg)
  const privateKey = KeyObject.from(pair.privateKey as unknown as webcrypto.CryptoKey)
  // A signing input of the same shape and length as the proofs the others produce.
  const input = Buffer.from(
    `${b64uJson({ typ: 'dpop+jwt', alg, jwk: pair.publicJwk })}.${b64uJson({
      jti: randomUUID(),
      htm: REQUEST.method,
      htu: REQUEST.url,
      iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(ACCESS_TOKEN).digest('base64url'),
    })}`,
  )
  const signOptions = { key: privateKey, ...options }
  const proofOptions = { htm: REQUEST.method, htu: REQUEST.url, accessToken: ACCESS_TOKEN }
  const keys = { privateKey: pair.privateKey, publicKey: pair.publicKey }
  return [
    { name: RAW_SIGN, op: () => sign(hash, input, signOptions) },
    { name: KEYBOUND_NODE, op: () => createNode(pair, proofOptions) },
    { name: 'keybound webcrypto', op: () => createWebcrypto(pair, proofOptions) },
    {
      name: 'dpop generateProof',
      op: () => generateProof(keys, REQUEST.url, REQUEST.method, undefined, ACCESS_TOKEN),
    },
    {
      name: 'jose SignJWT',
      op: () =>
        new SignJWT({
          jti: randomUUID(),
          htm: REQUEST.method,
          htu: REQUEST.url,
          ath: createHash('sha256').update(ACCESS_TOKEN).digest('base64url'),
        })
          .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: pair.publicJwk })
          .setIssuedAt()
          .sign(pair.privateKey),
    },
  ]
}

// Every contender's output is checked once, before anything is timed or counted.
async function checkedContenders(alg: BenchAlg): Promise<Contender[]> {
  const list = contenders(alg, await generateKeyPair(alg))
  for (const contender of list.slice(1))
    checkSelfSigned((await contender.op()) as string, contender.name)
  return list
}

async function runCase(context: SuiteContext, alg: BenchAlg): Promise<CaseResult> {
  const list = await checkedContenders(alg)
  const targets =
    alg === 'ES256' ? [{ contender: KEYBOUND_NODE, baseline: RAW_SIGN, min: 0.7 }] : []
  return throughputCase(context, alg, RAW_SIGN, list, targets)
}

const ALGORITHMS = ['ES256', 'EdDSA'] as const

// Creation needs no prepared material: the child makes its own key, which is fast.
const instructions: InstructionWorkload = {
  prepare: async () => ({}),
  async cases() {
    const cases: InstructionCase[] = []
    for (const alg of ALGORITHMS) {
      const list = await checkedContenders(alg)
      cases.push({
        name: alg,
        baseline: RAW_SIGN,
        warmupOps: INSTRUCTION_WARMUP_OPS,
        contenders: list.filter(({ name }) => name === RAW_SIGN || name === KEYBOUND_NODE),
      })
    }
    return cases
  },
}

export const coreCreate: Suite = {
  name: 'core-create',
  description: 'createProof (htm, htu, accessToken), fresh jti and iat per proof',
  async run(context) {
    const cases: CaseResult[] = []
    for (const alg of ALGORITHMS) cases.push(await runCase(context, alg))
    return cases
  },
  instructions,
}
