/**
 * Proof creation with a key held in a PKCS#11 token (SoftHSM2), next to the floor the token sets
 * and to in-process keys. Contenders per algorithm: `createProof` with an `@keybound/pkcs11`
 * signer; a raw `C_SignInit` + `C_SignAsync` loop through the same `pkcs11js` binding, on the
 * same key, over a ready digest (what signing costs with no proof around it); and `createProof`
 * with an in-process key from `@keybound/core`. Target: the HSM proof reaches >= 0.8x the raw
 * loop. The suite starts its own SoftHSM2 token in a temporary directory (`softhsm2` must be
 * installed) and removes it afterwards.
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createProof, generateKeyPair, verifyProof } from '@keybound/core'
import { openPkcs11Signer, type Pkcs11Signer } from '@keybound/pkcs11'
import type * as Pkcs11 from 'pkcs11js'
import type { Contender } from '../lib/measure.js'
import { throughputCase, type CaseResult, type Suite, type SuiteContext } from '../lib/suite.js'

const MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const TOKEN = 'bench'
const HTU = 'https://rs.example.com/api/items'
const PIN_ENV = 'KEYBOUND_BENCH_HSM_PIN'

/** A throwaway SoftHSM2 token; SOFTHSM2_CONF must be set before the module initializes. */
function startToken(): { pin: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'keybound-bench-hsm-'))
  mkdirSync(join(dir, 'tokens'))
  writeFileSync(join(dir, 'conf'), `directories.tokendir = ${dir}/tokens\nlog.level = ERROR\n`)
  process.env.SOFTHSM2_CONF = join(dir, 'conf')
  const pin = randomBytes(8).toString('hex')
  // softhsm2-util takes the PINs as arguments; this token lives for one bench run only.
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', TOKEN, '--pin', pin, '--so-pin', pin],
    {
      stdio: 'pipe',
    },
  )
  return { pin, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A raw signing loop on the signer's key, through a second handle on the same module. */
function rawSigner(alg: 'ES256' | 'PS256', label: string): () => Promise<Buffer> {
  const pkcs11 = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11
  const library = new pkcs11.PKCS11()
  library.load(MODULE)
  try {
    library.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK })
  } catch {
    // The signer already initialized the module in this process; the state is shared.
  }
  const slot = library
    .C_GetSlotList(true)
    .find((candidate) => library.C_GetTokenInfo(candidate).label.trim() === TOKEN)!
  const session = library.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
  library.C_FindObjectsInit(session, [
    { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
    { type: pkcs11.CKA_LABEL, value: label },
  ])
  const [key] = library.C_FindObjects(session, 1)
  library.C_FindObjectsFinal(session)
  const digest = createHash('sha256').update('bench').digest()
  const mechanism: Pkcs11.Mechanism =
    alg === 'ES256'
      ? { mechanism: pkcs11.CKM_ECDSA }
      : {
          mechanism: pkcs11.CKM_RSA_PKCS_PSS,
          parameter: {
            type: pkcs11.CK_PARAMS_RSA_PSS,
            hashAlg: pkcs11.CKM_SHA256,
            mgf: pkcs11.CKG_MGF1_SHA256,
            saltLen: 32,
          } as NonNullable<Pkcs11.Mechanism['parameter']>,
        }
  return () => {
    library.C_SignInit(session, mechanism, key!)
    return library.C_SignAsync(session, digest, Buffer.alloc(512))
  }
}

async function algorithmCase(context: SuiteContext, alg: 'ES256' | 'PS256'): Promise<CaseResult> {
  const label = `bench-${alg}`
  const signer: Pkcs11Signer = await openPkcs11Signer({
    uri: `pkcs11:token=${TOKEN};object=${label}?module-path=${MODULE}&pin-source=env:${PIN_ENV}`,
    alg,
    create: true,
    rsaBits: 2048,
  })
  const software = await generateKeyPair(alg)
  const raw = rawSigner(alg, label)
  for (const key of [signer, software]) {
    const proof = await createProof(key, { htm: 'GET', htu: HTU })
    await verifyProof(proof, { method: 'GET', url: HTU }, { replayStore: false })
  }
  const names = {
    hsm: `pkcs11 signer createProof (${alg})`,
    raw: `raw C_SignInit+C_SignAsync (${alg})`,
    software: `in-process key createProof (${alg})`,
  }
  const contenders: Contender[] = [
    { name: names.hsm, op: () => createProof(signer, { htm: 'GET', htu: HTU }) },
    { name: names.raw, op: raw },
    { name: names.software, op: () => createProof(software, { htm: 'GET', htu: HTU }) },
  ]
  try {
    return await throughputCase(context, `${alg} proof, SoftHSM2`, names.raw, contenders, [
      { contender: names.hsm, baseline: names.raw, min: 0.8 },
    ])
  } finally {
    await signer.close()
  }
}

export const pkcs11: Suite = {
  name: 'pkcs11',
  description: 'proofs signed in SoftHSM2 vs a raw C_Sign loop (same binding) vs in-process keys',
  async run(context) {
    const token = startToken()
    process.env[PIN_ENV] = token.pin
    try {
      return [await algorithmCase(context, 'ES256'), await algorithmCase(context, 'PS256')]
    } finally {
      token.remove()
    }
  },
}
