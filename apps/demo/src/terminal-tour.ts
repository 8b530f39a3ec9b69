/**
 * What `npm start` shows until the full demo stack lands: DPoP in five steps, in the terminal.
 * A client key signs a proof for one request, the server side verifies it, and then a replayed
 * proof and a proof from another key (an attacker holding a stolen token) are refused.
 */
import {
  DPoPError,
  MemoryReplayStore,
  calculateAth,
  core,
  createProof,
  generateKeyPair,
  verifyProof,
  type VerifyProofOptions,
} from '@keybound/core'

const API = 'https://api.example.com/v1/notes'
const ACCESS_TOKEN = 'demo-access-token-bound-to-the-client-key'

function show(step: string, detail: string): void {
  console.log(`\n${step}\n  ${detail.split('\n').join('\n  ')}`)
}

function decodeSegment(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
}

async function expectRefusal(step: string, attempt: Promise<unknown>): Promise<void> {
  try {
    await attempt
    throw new Error(`${step}: accepted, which must never happen`)
  } catch (error) {
    if (!(error instanceof DPoPError)) throw error
    show(
      step,
      `refused: ${error.code}${error.reason ? ` (${error.reason})` : ''}\n${error.message}`,
    )
  }
}

async function runTour(): Promise<void> {
  console.log(`Keybound: DPoP (RFC 9449) in the terminal, ${core.backend} crypto backend`)

  const clientKey = await generateKeyPair('ES256')
  show(
    '1. The client makes a key pair (the private key is not extractable)',
    `jkt (RFC 7638 thumbprint): ${clientKey.jkt}`,
  )

  const proof = await createProof(clientKey, {
    htm: 'GET',
    htu: `${API}?page=1`,
    accessToken: ACCESS_TOKEN,
  })
  const [header, payload] = proof.split('.')
  show(
    '2. It signs a proof for GET /v1/notes with its access token',
    `header:  ${JSON.stringify(decodeSegment(header!))}\npayload: ${JSON.stringify(decodeSegment(payload!))}`,
  )

  // The server knows the token is bound to clientKey.jkt (cnf.jkt in the token) and keeps used proofs.
  const request = { method: 'GET', url: API }
  const options: VerifyProofOptions = {
    replayStore: new MemoryReplayStore(),
    accessToken: ACCESS_TOKEN,
    expectedJkt: clientKey.jkt,
    now: Date.now,
  }
  const verified = await verifyProof(proof, request, options)
  show(
    '3. The resource server verifies it',
    `accepted: htm ${verified.claims.htm}, htu ${verified.claims.htu}, jkt ${verified.jkt}`,
  )

  await expectRefusal(
    '4. An attacker replays the captured proof',
    verifyProof(proof, request, options),
  )

  const attackerKey = await generateKeyPair('ES256')
  const forged = await createProof(attackerKey, { htm: 'GET', htu: API, accessToken: ACCESS_TOKEN })
  await expectRefusal(
    '5. An attacker with the stolen token signs with their own key',
    verifyProof(forged, request, options),
  )

  console.log(
    `\nThe stolen token alone gets the attacker nothing. ath of the token: ${await calculateAth(ACCESS_TOKEN)}`,
  )
  console.log('Run the tests with: npm test')
}

runTour().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
