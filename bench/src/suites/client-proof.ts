/**
 * Proof creation inside a DPoP fetch, ES256, the way an application pays for it: one request to
 * a resource server with an access token (so `ath` is in every proof), a fresh proof per request.
 * The `fetch` each contender is given returns a ready `Response` at once, so what is timed is the
 * client path (proof, headers, nonce bookkeeping), not the network. Contenders: Keybound's
 * `createDPoPFetch`, oauth4webapi's `DPoP()` handle through `protectedResourceRequest` (its fetch
 * wrapper for resource requests), and the `dpop` package's `generateProof` plus the same `fetch`.
 * Each contender's first proof is verified with `@keybound/core` before timing starts. With
 * `--instructions` all three are also counted under callgrind (the peers sign through WebCrypto
 * on the thread pool; callgrind counts every thread).
 */
import { createDPoPFetch } from '@keybound/client'
import { generateKeyPair, verifyProof } from '@keybound/core'
import { generateProof } from 'dpop'
import * as oauth from 'oauth4webapi'
import { INSTRUCTION_WARMUP_OPS, type InstructionWorkload } from '../lib/instructions.js'
import type { Contender } from '../lib/measure.js'
import { throughputCase, type Suite } from '../lib/suite.js'

const KEYBOUND = 'keybound createDPoPFetch'
const OAUTH4WEBAPI = 'oauth4webapi DPoP handle'
const DPOP = 'dpop generateProof'
const URL_STRING = 'https://rs.example.com/api/items?page=2'
// The `dpop` package signs the URL it is given; stripping query and fragment is the caller's job.
const HTU = 'https://rs.example.com/api/items'
const ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'

// One ready `Response` (no body) answers every request: creating a Response costs as much as a
// third of a proof in undici, and that shared cost would only blur the comparison.
const READY = new Response(null, { status: 200 })

/** A `fetch` that answers at once; while `capture` is on it remembers the proof it was handed. */
function readyFetch() {
  const state = { proof: '', capture: true }
  const fetch = async (_input: unknown, init?: { headers?: unknown }): Promise<Response> => {
    if (state.capture) state.proof = new Headers(init?.headers as HeadersInit).get('dpop') ?? ''
    return READY
  }
  return { state, fetch }
}

async function checkProof(proof: string, name: string): Promise<void> {
  const verified = await verifyProof(
    proof,
    { method: 'GET', url: URL_STRING },
    { replayStore: false, accessToken: ACCESS_TOKEN },
  )
  if (verified.claims.htu !== HTU) throw new Error(`${name}: unexpected htu`)
}

/** The three contenders, each checked once (its first proof verified) before any timing. */
async function checkedContenders(): Promise<Contender[]> {
  const pair = await generateKeyPair('ES256')
  const keys = { privateKey: pair.privateKey, publicKey: pair.publicKey }
  const url = new URL(URL_STRING)

  const keybound = readyFetch()
  const dpopFetch = createDPoPFetch({
    fetch: keybound.fetch,
    key: pair,
    accessToken: ACCESS_TOKEN,
  })

  const o4w = readyFetch()
  const handle = oauth.DPoP({}, keys)
  const o4wOptions = { DPoP: handle, [oauth.customFetch]: o4w.fetch }

  const peer = readyFetch()

  const contenders: Contender[] = [
    { name: KEYBOUND, op: () => dpopFetch(URL_STRING) },
    {
      name: OAUTH4WEBAPI,
      op: () =>
        oauth.protectedResourceRequest(ACCESS_TOKEN, 'GET', url, undefined, undefined, o4wOptions),
    },
    {
      name: DPOP,
      op: async () => {
        const proof = await generateProof(keys, HTU, 'GET', undefined, ACCESS_TOKEN)
        return peer.fetch(URL_STRING, {
          headers: { authorization: `DPoP ${ACCESS_TOKEN}`, dpop: proof },
        })
      },
    },
  ]
  for (const [contender, state] of [
    [contenders[0]!, keybound.state],
    [contenders[1]!, o4w.state],
    [contenders[2]!, peer.state],
  ] as const) {
    await contender.op()
    await checkProof(state.proof, contender.name)
    state.capture = false
  }
  return contenders
}

const CASE = 'ES256 resource request'

const instructions: InstructionWorkload = {
  prepare: async () => ({}),
  cases: async () => [
    {
      name: CASE,
      baseline: OAUTH4WEBAPI,
      warmupOps: INSTRUCTION_WARMUP_OPS,
      contenders: await checkedContenders(),
    },
  ],
}

export const clientProof: Suite = {
  name: 'client-proof',
  description:
    'proof creation inside a DPoP fetch wrapper (ES256, GET with access token, ready Response)',
  async run(context) {
    const contenders = await checkedContenders()
    // >= 2x the faster of the two peers: both ratios must hold.
    const targets = [
      { contender: KEYBOUND, baseline: OAUTH4WEBAPI, min: 2 },
      { contender: KEYBOUND, baseline: DPOP, min: 2 },
    ]
    return [await throughputCase(context, CASE, OAUTH4WEBAPI, contenders, targets)]
  },
  instructions,
}
