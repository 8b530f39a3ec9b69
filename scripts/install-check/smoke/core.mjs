// @keybound/core from its tarball: a proof round trip on every entry point, and a replay refused.
import * as byCondition from '@keybound/core'
import * as nodeEntry from '@keybound/core/node'
import * as webcryptoEntry from '@keybound/core/webcrypto'
import { check, expect, finish } from './lib.mjs'

const request = { method: 'POST', url: 'https://api.example.com/notes' }

for (const [entry, core] of [
  ['@keybound/core', byCondition],
  ['@keybound/core/node', nodeEntry],
  ['@keybound/core/webcrypto', webcryptoEntry],
]) {
  await check(`core: ${entry} creates and verifies a proof, then refuses its replay`, async () => {
    const key = await core.generateKeyPair('ES256')
    const proof = await core.createProof(key, { htm: 'POST', htu: `${request.url}?page=2` })
    const replayStore = new core.MemoryReplayStore()
    const { jkt } = await core.verifyProof(proof, request, { replayStore })
    expect(jkt === (await core.calculateJwkThumbprint(key.publicJwk)), 'jkt is the key thumbprint')
    const replay = await core.verifyProof(proof, request, { replayStore }).then(
      () => undefined,
      (error) => error,
    )
    expect(replay?.code === 'ERR_DPOP_REPLAYED', `replay refused with ${replay?.code}`)
  })
}

finish()
