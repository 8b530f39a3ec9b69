/**
 * A JWT access token refused for one of its claims: the server-side outcome (`onOutcome`
 * detail) names the claim with the value expected and the value found, so the person running
 * the API sees at once that, say, the token was made for another audience; the client still
 * gets only `invalid_token`. Real issuer (JWKS over HTTP), real resource server behind the
 * Node adapter, real HTTP on loopback.
 */
import { createServer } from 'node:http'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { createResourceServer, jwtAccessTokens, type OutcomeEvent } from '@keybound/server'
import { protect } from '@keybound/server/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { send, type Received } from './support/http.js'
import { listen } from '@keybound/test-kit/net'
import { startTestIssuer, type MintOptions, type TestIssuer } from '@keybound/test-kit/issuer'

// The demo's situation: tokens for the demo API (4001) shown to the user's own API (4010).
const DEMO_API = 'http://localhost:4001'
const OWN_API = 'http://localhost:4010'

let issuer: TestIssuer
let key: DPoPKeyPair

beforeAll(async () => {
  ;[issuer, key] = await Promise.all([
    startTestIssuer({ audience: OWN_API }),
    generateKeyPair('ES256'),
  ])
})

afterAll(async () => {
  await issuer?.close()
})

interface Refusal {
  received: Received
  event: Extract<OutcomeEvent, { outcome: 'rejected' }>
}

/** Sends one DPoP request with a token minted from `mint` and returns the answer and the event. */
async function refuse(mint: MintOptions, audience: string | string[] = OWN_API): Promise<Refusal> {
  const events: OutcomeEvent[] = []
  const resourceServer = createResourceServer({
    publicBaseUrl: OWN_API,
    accessTokens: jwtAccessTokens({ issuer: issuer.issuer, audience, jwksUri: issuer.jwksUri }),
    onOutcome: (event) => events.push(event),
  })
  const server = createServer(protect(resourceServer, (_request, response) => response.end('ok')))
  const { url, close } = await listen(server)
  try {
    const token = await issuer.mint({ jkt: key.jkt, ...mint })
    const proof = await createProof(key, {
      htm: 'GET',
      htu: `${OWN_API}/notes`,
      accessToken: token,
    })
    const received = await send(`${url}/notes`, {
      headers: { Authorization: `DPoP ${token}`, DPoP: proof },
    })
    expect(events).toHaveLength(1)
    const event = events[0]!
    if (event.outcome !== 'rejected') throw new Error('the token was accepted')
    return { received, event }
  } finally {
    await close()
  }
}

/** The wire answer is the same terse one whatever the claim: nothing of the detail leaks. */
function expectTerseAnswer({ received, event }: Refusal): void {
  expect(received.status).toBe(401)
  expect(received.headers['www-authenticate']).toMatch(/^DPoP error="invalid_token"/)
  expect(event).toMatchObject({
    status: 401,
    error: 'invalid_token',
    reason: 'ERR_DPOP_ACCESS_TOKEN_INVALID',
  })
  const wire = `${received.headers['www-authenticate']}\n${received.body}`
  expect(wire).not.toContain(event.detail!)
  expect(wire).not.toContain('expected')
  expect(wire).not.toContain(DEMO_API)
}

describe('a JWT access token refused for a claim', () => {
  it('names aud with the expected and the actual value (a token for another API)', async () => {
    const refusal = await refuse({ aud: DEMO_API })
    expect(refusal.event.detail).toBe(`aud expected "${OWN_API}", got "${DEMO_API}"`)
    expectTerseAnswer(refusal)
  })

  it('lists every accepted audience when the API has several', async () => {
    const refusal = await refuse({ aud: DEMO_API }, [OWN_API, 'http://localhost:4011'])
    expect(refusal.event.detail).toBe(
      `aud expected one of ["${OWN_API}","http://localhost:4011"], got "${DEMO_API}"`,
    )
    expectTerseAnswer(refusal)
  })

  it('names iss with the expected and the actual value', async () => {
    const refusal = await refuse({ iss: 'http://localhost:4999' })
    expect(refusal.event.detail).toBe(
      `iss expected "${issuer.issuer}", got "http://localhost:4999"`,
    )
    expectTerseAnswer(refusal)
  })

  it('names exp with the earliest time accepted and the token’s time, both readable', async () => {
    const refusal = await refuse({ expiresIn: -3600 })
    const detail = refusal.event.detail!
    const match =
      /^exp expected after (\d+) \((\S+Z)\), got (\d+) \((\S+Z)\)$/.exec(detail) ?? undefined
    expect(match, detail).toBeDefined()
    const [, after, afterIso, got, gotIso] = match!
    expect(new Date(Number(after) * 1000).toISOString()).toBe(afterIso)
    expect(new Date(Number(got) * 1000).toISOString()).toBe(gotIso)
    // About an hour before the window (default leeway 10 s).
    expect(Number(after) - Number(got)).toBeGreaterThan(3500)
    expectTerseAnswer(refusal)
  })

  it('names the typ header parameter', async () => {
    const refusal = await refuse({ typ: 'JWT' })
    expect(refusal.event.detail).toBe('typ expected "at+jwt", got "JWT"')
    expectTerseAnswer(refusal)
  })

  it('names a required claim that is missing', async () => {
    const refusal = await refuse({ claims: { client_id: undefined } })
    expect(refusal.event.detail).toBe('client_id expected to be present, got nothing')
    expectTerseAnswer(refusal)
  })

  it('quotes a hostile value as JSON and cuts it, so one log line stays one short line', async () => {
    const hostile = `${DEMO_API}\nlevel=error msg="forged"${'x'.repeat(500)}`
    const refusal = await refuse({ aud: hostile })
    const detail = refusal.event.detail!
    expect(detail).not.toMatch(/[\r\n]/)
    expect(detail.startsWith(`aud expected "${OWN_API}", got "${DEMO_API}\\nlevel=error`)).toBe(
      true,
    )
    expect(detail.length).toBeLessThan(200)
    expect(detail.endsWith('…')).toBe(true)
    expectTerseAnswer(refusal)
  })
})
