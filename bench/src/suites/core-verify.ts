/**
 * Proof verification, ES256 / EdDSA / PS256, with one client key and with 1,000 clients
 * (round-robin). Every operation verifies a proof it has never seen: the pool holds distinct
 * proofs, and each contender's replay record starts over when its cursor wraps around the pool.
 * The clock is pinned (`now`) to the time the pool was signed, so no proof ages out mid-run.
 * With `--instructions`, the raw baselines and Keybound's node backend are also counted under
 * callgrind, over pools large enough that no proof is used twice.
 */
import { createHash, createPublicKey, verify, type JsonWebKey } from 'node:crypto'
import { verifyProof as verifyNode, MemoryReplayStore } from '@keybound/core/node'
import { verifyProof as verifyWebcrypto } from '@keybound/core/webcrypto'
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose'
import {
  INSTRUCTION_WARMUP_OPS,
  SEGMENTS,
  type InstructionCase,
  type InstructionWorkload,
} from '../lib/instructions.js'
import type { Contender } from '../lib/measure.js'
import {
  generateKeys,
  generateProofPool,
  nodeParams,
  REQUEST,
  type BenchAlg,
  type BenchKey,
  type PooledProof,
} from '../lib/proofs.js'
import { throughputCase, type CaseResult, type Suite, type SuiteContext } from '../lib/suite.js'

const KEYBOUND_NODE = 'keybound node'
const KEYBOUND_WEBCRYPTO = 'keybound webcrypto'
const RAW_VERIFY = 'raw crypto.verify'
const RAW_IMPORT_VERIFY = 'raw createPublicKey+verify'
const JOSE = 'jose pipeline'

const ALGORITHMS: readonly BenchAlg[] = ['ES256', 'EdDSA', 'PS256']
const MAX_AGE_SECONDS = 60
const CLOCK_TOLERANCE_SECONDS = 10

type VerifyFunction = typeof verifyNode

/** What a verifier knows of a client key. */
type VerifierKey = Pick<BenchKey, 'publicKey' | 'jwk' | 'jkt' | 'accessToken' | 'ath'>

interface Material {
  readonly alg: BenchAlg
  readonly keys: readonly VerifierKey[]
  readonly pool: readonly PooledProof[]
  readonly nowMs: number
}

/** A case's material as JSON, for the instruction child. */
interface SerializedMaterial {
  readonly alg: BenchAlg
  readonly keyCount: number
  readonly nowMs: number
  readonly warmupOps: number
  readonly keys: readonly {
    jwk: Record<string, string>
    jkt: string
    accessToken: string
    ath: string
  }[]
  readonly proofs: readonly { proof: string; key: number }[]
}

/** Walks the pool; `onWrap` runs before a proof would be handed out a second time. */
function cursor(pool: readonly PooledProof[], onWrap: () => void = () => {}): () => PooledProof {
  let index = 0
  return () => {
    if (index === pool.length) {
      index = 0
      onWrap()
    }
    return pool[index++]!
  }
}

function keybound(name: string, verifyProof: VerifyFunction, material: Material): Contender {
  const now = (): number => material.nowMs
  let replayStore = new MemoryReplayStore({ now })
  const next = cursor(material.pool, () => {
    replayStore = new MemoryReplayStore({ now })
  })
  return {
    name,
    op: () => {
      const entry = next()
      const key = material.keys[entry.key]!
      return verifyProof(entry.proof, REQUEST, {
        replayStore,
        accessToken: key.accessToken,
        // As the resource server does: it hashes the token once per request (its token cache
        // needs the hash anyway) and passes it on. Here it is made once per key, not counted.
        accessTokenHash: key.ath,
        expectedJkt: key.jkt,
        now,
      })
    },
  }
}

function rawVerify(material: Material): Contender {
  const { hash, options } = nodeParams(material.alg)
  const keys = material.keys.map((key) => ({ key: key.publicKey, ...options }))
  const next = cursor(material.pool)
  return {
    name: RAW_VERIFY,
    op: () => {
      const entry = next()
      if (!verify(hash, entry.data, keys[entry.key]!, entry.signature))
        throw new Error('bad signature')
    },
  }
}

function rawImportVerify(material: Material): Contender {
  const { hash, options } = nodeParams(material.alg)
  const next = cursor(material.pool)
  return {
    name: RAW_IMPORT_VERIFY,
    op: () => {
      const entry = next()
      const key = createPublicKey({ key: material.keys[entry.key]!.jwk, format: 'jwk' })
      if (!verify(hash, entry.data, { key, ...options }, entry.signature))
        throw new Error('bad signature')
    },
  }
}

/** What a careful server would write with jose: the same checks Keybound makes on this request. */
function josePipeline(material: Material): Contender {
  let seen = new Map<string, number>()
  const next = cursor(material.pool, () => {
    seen = new Map()
  })
  const algorithms = [material.alg]
  return {
    name: JOSE,
    op: async () => {
      const entry = next()
      const key = material.keys[entry.key]!
      const { payload, protectedHeader } = await jwtVerify(entry.proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms,
      })
      const jkt = await calculateJwkThumbprint(protectedHeader.jwk!)
      if (jkt !== key.jkt) throw new Error('jkt mismatch')
      if (typeof payload.jti !== 'string' || payload.jti.length === 0) throw new Error('jti')
      if (payload.htm !== REQUEST.method) throw new Error('htm mismatch')
      if (payload.htu !== REQUEST.url) throw new Error('htu mismatch')
      const now = material.nowMs / 1000
      const iat = payload.iat
      if (
        typeof iat !== 'number' ||
        iat < now - MAX_AGE_SECONDS ||
        iat > now + CLOCK_TOLERANCE_SECONDS
      ) {
        throw new Error('iat out of window')
      }
      const ath = createHash('sha256').update(key.accessToken).digest('base64url')
      if (payload.ath !== ath) throw new Error('ath mismatch')
      const id = `${jkt}:${payload.jti}`
      if (seen.has(id)) throw new Error('replay')
      seen.set(id, material.nowMs + (MAX_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000)
    },
  }
}

function poolSize(alg: BenchAlg, quick: boolean): number {
  // RSA signing is slow (~3k/s per core), so the PS256 pool is smaller and wraps more often.
  if (alg === 'PS256') return quick ? 2_000 : 8_000
  return quick ? 3_000 : 20_000
}

function caseLabel(alg: BenchAlg, keyCount: number): string {
  return keyCount === 1 ? `${alg} · 1 key` : `${alg} · ${keyCount.toLocaleString('en-US')} keys`
}

function baselineOf(keyCount: number): string {
  return keyCount === 1 ? RAW_VERIFY : RAW_IMPORT_VERIFY
}

async function runCase(
  context: SuiteContext,
  alg: BenchAlg,
  keyCount: number,
): Promise<CaseResult> {
  const label = caseLabel(alg, keyCount)
  const started = performance.now()
  const keys = await generateKeys(alg, keyCount)
  const nowMs = Date.now()
  const pool = await generateProofPool(keys, poolSize(alg, context.quick), Math.floor(nowMs / 1000))
  context.log(
    `  ${label}: ${keys.length} keys, ${pool.length} proofs in ${Math.round(performance.now() - started)} ms`,
  )
  const material: Material = { alg, keys, pool, nowMs }
  const baseline = baselineOf(keyCount)
  return throughputCase(
    context,
    label,
    baseline,
    [
      rawVerify(material),
      rawImportVerify(material),
      keybound(KEYBOUND_NODE, verifyNode, material),
      keybound(KEYBOUND_WEBCRYPTO, verifyWebcrypto, material),
      josePipeline(material),
    ],
    [{ contender: KEYBOUND_NODE, baseline, min: 0.85 }],
    // Steady state: every client has been seen once, as on a server that has been up a while.
    { warmupOps: keyCount },
  )
}

const KEY_COUNTS = [1, 1000] as const

async function serializeCase(
  alg: BenchAlg,
  keyCount: number,
  ops: number,
): Promise<SerializedMaterial> {
  const keys = await generateKeys(alg, keyCount)
  const nowMs = Date.now()
  const warmupOps = Math.max(keyCount, INSTRUCTION_WARMUP_OPS)
  // The warm-up and every counted segment, each operation on a proof of its own.
  const pool = await generateProofPool(keys, warmupOps + SEGMENTS * ops, Math.floor(nowMs / 1000))
  return {
    alg,
    keyCount,
    nowMs,
    warmupOps,
    keys: keys.map(({ jwk, jkt, accessToken, ath }) => ({ jwk, jkt, accessToken, ath })),
    proofs: pool.map(({ proof, key }) => ({ proof, key })),
  }
}

function deserializeCase(serialized: SerializedMaterial): Material {
  const keys = serialized.keys.map((key) => ({
    ...key,
    publicKey: createPublicKey({ key: key.jwk as JsonWebKey, format: 'jwk' }),
  }))
  const pool = serialized.proofs.map(({ proof, key }) => {
    const end = proof.lastIndexOf('.')
    return {
      proof,
      key,
      data: Buffer.from(proof.slice(0, end), 'latin1'),
      signature: Buffer.from(proof.slice(end + 1), 'base64url'),
    }
  })
  return { alg: serialized.alg, keys, pool, nowMs: serialized.nowMs }
}

const instructions: InstructionWorkload = {
  async prepare(ops) {
    const cases: SerializedMaterial[] = []
    for (const alg of ALGORITHMS) {
      for (const keyCount of KEY_COUNTS) cases.push(await serializeCase(alg, keyCount, ops))
    }
    return cases
  },
  async cases(serialized) {
    return (serialized as SerializedMaterial[]).map((each): InstructionCase => {
      const material = deserializeCase(each)
      return {
        name: caseLabel(each.alg, each.keyCount),
        baseline: baselineOf(each.keyCount),
        warmupOps: each.warmupOps,
        // The case's baseline and Keybound only: under valgrind every contender costs minutes.
        contenders: [
          each.keyCount === 1 ? rawVerify(material) : rawImportVerify(material),
          keybound(KEYBOUND_NODE, verifyNode, material),
        ],
      }
    })
  },
}

export const coreVerify: Suite = {
  name: 'core-verify',
  description:
    'verifyProof (accessToken + accessTokenHash + expectedJkt + MemoryReplayStore), fresh proof per op',
  async run(context) {
    const cases: CaseResult[] = []
    for (const alg of ALGORITHMS) {
      for (const keyCount of KEY_COUNTS) cases.push(await runCase(context, alg, keyCount))
    }
    return cases
  },
  instructions,
}
