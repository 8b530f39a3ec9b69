/**
 * The same PKCS#11 signer against a software TPM (swtpm + tpm2-pkcs11): an ES256 key created in
 * the TPM, proofs verified by core and by jose. The nearest thing on a server to the
 * device-held keys of mobile apps.
 */
import { createProof, MemoryReplayStore, verifyProof } from '@keybound/core'
import { EmbeddedJWK, jwtVerify } from 'jose'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openPkcs11Signer, Pkcs11PinInvalid, type Pkcs11Signer } from '../src/index.js'
import { startSoftwareTpm, TPM_MODULE, type SoftwareTpm } from './support/swtpm.js'

const PIN_ENV = 'KEYBOUND_TEST_TPM_PIN'
const HTU = 'https://api.example.com/things'
const URI = `pkcs11:token=dpop-tpm;object=agent?module-path=${TPM_MODULE}&pin-source=env:${PIN_ENV}`
let tpm: SoftwareTpm
let signer: Pkcs11Signer | undefined

beforeAll(async () => {
  process.env[PIN_ENV] = '2468-tpm'
  tpm = await startSoftwareTpm('dpop-tpm', process.env[PIN_ENV])
})

afterAll(async () => {
  await signer?.close()
  tpm?.close()
})

it('a wrong PIN for the TPM token is ERR_DPOP_PKCS11_PIN_INVALID', async () => {
  await expect(
    openPkcs11Signer({ uri: URI.replace(`&pin-source=env:${PIN_ENV}`, ''), pin: () => '0000' }),
  ).rejects.toBeInstanceOf(Pkcs11PinInvalid)
})

it('ES256 proofs from a key created in the TPM verify with core and jose', async () => {
  signer = await openPkcs11Signer({ uri: URI, alg: 'ES256', create: true })
  const replayStore = new MemoryReplayStore()
  for (const htm of ['GET', 'POST']) {
    const proof = await createProof(signer, { htm, htu: HTU })
    const verified = await verifyProof(proof, { method: htm, url: HTU }, { replayStore })
    expect(verified.jkt).toBe(signer.jkt)
    const { payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256'],
    })
    expect(payload).toMatchObject({ htm, htu: HTU })
  }
  const again = await openPkcs11Signer({ uri: URI, alg: 'ES256' })
  expect(again.jkt).toBe(signer.jkt)
  await again.close()
})
