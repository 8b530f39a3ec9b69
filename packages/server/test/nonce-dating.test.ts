/**
 * At the resource server, a valid nonce dates a proof (RFC 9449 §4.3 item 11), but an `iat`
 * that no client clock could have written is still refused, and `requireIat` applies the
 * usual window as well.
 */
import { describe, expect, it } from 'vitest'
import { createNonceSource, createProof } from '@keybound/core'
import type { ResourceServerOptions } from '@keybound/server'
import { resourceServerFor, useIssuerAndKey } from './support/suite.js'

const BASE = 'https://rs.example.test'
const SECRET = 'a nonce secret of at least 32 bytes for these tests'

const suite = useIssuerAndKey(BASE)

function server(extra: Partial<ResourceServerOptions> = {}) {
  return resourceServerFor(suite, BASE, {
    nonces: createNonceSource({ secret: SECRET, purpose: 'rs' }),
    ...extra,
  })
}

async function requestWithIat(iat: number) {
  const token = await suite.issuer.mint({ jkt: suite.key.jkt })
  const nonce = await createNonceSource({ secret: SECRET, purpose: 'rs' }).issueNonce()
  const proof = await createProof(suite.key, {
    htm: 'GET',
    htu: `${BASE}/items`,
    accessToken: token,
    nonce,
    iat,
  })
  return { method: 'GET', url: '/items', headers: { authorization: `DPoP ${token}`, dpop: proof } }
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

describe('iat beside a valid nonce', () => {
  it('refuses a negative, zero or absurd iat with invalid_dpop_proof (no nonce retry)', async () => {
    const resourceServer = server()
    for (const iat of [-1e300, -1, 0, 1e300, nowSeconds() + 10 * 86_400]) {
      const verdict = await resourceServer.verifyRequest(await requestWithIat(iat))
      expect(verdict).toMatchObject({
        ok: false,
        status: 401,
        error: 'invalid_dpop_proof',
        code: 'ERR_DPOP_IAT_OUT_OF_WINDOW',
      })
      expect(verdict.responseHeaders['DPoP-Nonce']).toBeUndefined()
    }
  })

  it('accepts a clock ten minutes off by default: the nonce vouches for freshness', async () => {
    const verdict = await server().verifyRequest(await requestWithIat(nowSeconds() - 600))
    expect(verdict).toMatchObject({ ok: true })
  })

  it('with requireIat, applies the usual window even with a valid nonce', async () => {
    const resourceServer = server({ requireIat: true })
    const stale = await resourceServer.verifyRequest(await requestWithIat(nowSeconds() - 600))
    expect(stale).toMatchObject({ ok: false, status: 401, error: 'use_dpop_nonce' })
    const fresh = await resourceServer.verifyRequest(await requestWithIat(nowSeconds()))
    expect(fresh).toMatchObject({ ok: true })
  })

  it('maxClockSkew narrows the allowance and is checked at build time', async () => {
    const verdict = await server({ maxClockSkew: 300 }).verifyRequest(
      await requestWithIat(nowSeconds() + 600),
    )
    expect(verdict).toMatchObject({ ok: false, error: 'invalid_dpop_proof' })
    for (const maxClockSkew of [-1, Number.NaN, Infinity, '60'])
      expect(() => server({ maxClockSkew } as never)).toThrow(/maxClockSkew/)
  })
})
