/**
 * A `private_key_jwt` client assertion is single-use for as long as the server would accept it
 * (RFC 7523 §3 item 7). jwtVerify accepts it until `exp` plus `dpop.clockTolerance`, so the
 * replay record must outlive that, whatever tolerance the operator sets (up to 600 s). The
 * server runs on a test clock, which its memory replay store follows.
 */
import * as jose from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientSigningKey,
  Dpop,
  postForm,
  startServer,
  type Answer,
  type TestServer,
} from './support.js'

const TOLERANCE = 300
let clock = Date.now()
let t: TestServer

beforeAll(async () => {
  t = await startServer('sqlite', { dpop: { clockTolerance: TOLERANCE } }, { now: () => clock })
})
afterAll(() => t.close())

function assertion(expiresInSeconds: number): Promise<string> {
  const nowSeconds = Math.floor(clock / 1000)
  return new jose.SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'client-key-1' })
    .setIssuer('service-jwt')
    .setSubject('service-jwt')
    .setAudience(t.issuer)
    .setJti(crypto.randomUUID())
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + expiresInSeconds)
    .sign(clientSigningKey.privateKey)
}

/** client_credentials with the assertion and a proof dated by the test clock. */
async function tokenRequest(dpop: Dpop, clientAssertion: string): Promise<Answer> {
  const url = t.url('/token')
  const form = {
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
  }
  const send = async () =>
    postForm(url, form, { dpop: await dpop.proof(url, { iat: Math.floor(clock / 1000) }) })
  let answer = await send()
  if (answer.body?.error === 'use_dpop_nonce') {
    dpop.nonce = answer.headers.get('dpop-nonce') ?? undefined
    answer = await send()
  }
  return answer
}

describe('client assertion replay record', () => {
  it('refuses a replay inside exp + clockTolerance, after exp + 60 s', async () => {
    const dpop = await Dpop.create()
    const once = await assertion(60)
    const first = await tokenRequest(dpop, once)
    expect(first.status, first.text).toBe(200)
    // 200 s on: past exp + 60 s (the record's old lifetime) but inside exp + 300 s.
    clock += 200_000
    const replayed = await tokenRequest(dpop, once)
    expect([replayed.status, replayed.body.error, replayed.body.error_description]).toEqual([
      401,
      'invalid_client',
      'client assertion was already used',
    ])
  })

  it('still accepts a fresh assertion at the same moment', async () => {
    const answer = await tokenRequest(await Dpop.create(), await assertion(60))
    expect(answer.status, answer.text).toBe(200)
  })
})
