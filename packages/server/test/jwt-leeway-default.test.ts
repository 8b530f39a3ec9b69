/**
 * A JWT access token's `exp` is judged with the same default clock tolerance as the proof that
 * comes with it (core's `DEFAULT_CLOCK_TOLERANCE`, from `@keybound/core/internal`), against a
 * real local issuer serving its JWKS over HTTP.
 */
import { DEFAULT_CLOCK_TOLERANCE } from '@keybound/core/internal'
import { AccessTokenInvalid, jwtAccessTokens } from '@keybound/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'

let issuer: TestIssuer
beforeAll(async () => {
  issuer = await startTestIssuer({ audience: BASE })
})
afterAll(() => issuer.close())

describe('JWT access tokens: default leeway', () => {
  it('accepts exp within core default clock tolerance and refuses it past (D51)', async () => {
    const accessTokens = jwtAccessTokens({
      issuer: issuer.issuer,
      audience: BASE,
      jwksUri: issuer.jwksUri,
    })
    // Two seconds inside and outside the edge, so the second the test runs in cannot tip it.
    const inside = await issuer.mint({ expiresIn: -(DEFAULT_CLOCK_TOLERANCE - 2) })
    const outside = await issuer.mint({ expiresIn: -(DEFAULT_CLOCK_TOLERANCE + 2) })
    await expect(accessTokens.validate(inside)).resolves.toMatchObject({ subject: 'alice' })
    await expect(accessTokens.validate(outside)).rejects.toBeInstanceOf(AccessTokenInvalid)
  })
})
