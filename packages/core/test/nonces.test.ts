import { describe, expect, it } from 'vitest'
import { backends } from './support/backends.js'

const SECRET = 'nonce-test-secret-0123456789abcdef-0123'
const NQCHAR = /^[\x21\x23-\x5B\x5D-\x7E]+$/
const T0 = 1_770_000_000_000

describe.each(backends)('stateless nonces ($name backend)', ({ name, core }) => {
  const source = (options: Partial<Parameters<typeof core.createNonceSource>[0]> = {}) =>
    core.createNonceSource({ secret: SECRET, now: () => T0, ...options })

  it('1,000 issued nonces are distinct, NQCHAR-only and not sequential', async () => {
    const nonces = source()
    const issued: string[] = []
    for (let i = 0; i < 1000; i++) issued.push(await nonces.issueNonce())
    expect(new Set(issued).size).toBe(1000)
    for (const nonce of issued) expect(nonce).toMatch(NQCHAR)
    // A counter would make consecutive nonces sort in order; random salts go up about half the time.
    let increasing = 0
    for (let i = 1; i < issued.length; i++) if (issued[i]! > issued[i - 1]!) increasing++
    expect(increasing).toBeGreaterThan(350)
    expect(increasing).toBeLessThan(650)
    // and no two share their random part
    expect(new Set(issued.map((n) => n.split('.')[1])).size).toBe(1000)
    for (const nonce of issued.slice(0, 50))
      expect(await nonces.checkNonce(nonce)).toMatchObject({ valid: true, rotate: false })
  })

  it('current step: valid, no rotation, issued at its step start, expires two steps later', async () => {
    const nonces = source({ stepSeconds: 60 })
    const nonce = await nonces.issueNonce()
    const stepStart = Math.floor(T0 / 60_000) * 60_000
    expect(await nonces.checkNonce(nonce)).toEqual({
      valid: true,
      rotate: false,
      expiresAt: stepStart + 120_000,
      issuedAt: stepStart,
    })
  })

  it('previous step is accepted with rotate; two steps old is refused; a future step is refused', async () => {
    let now = T0
    const nonces = source({ now: () => now, stepSeconds: 30 })
    const nonce = await nonces.issueNonce()
    now += 30_000
    expect(await nonces.checkNonce(nonce)).toMatchObject({ valid: true, rotate: true })
    now += 30_000
    expect(await nonces.checkNonce(nonce)).toEqual({ valid: false })
    now = T0 - 30_000
    expect(await nonces.checkNonce(nonce)).toEqual({ valid: false })
    // checkNonce takes an explicit time too (verifyProof passes its own clock)
    expect(await nonces.checkNonce(nonce, T0)).toMatchObject({ valid: true })
  })

  it('a nonce from another secret is refused', async () => {
    const nonce = await source({ secret: `${SECRET}-rotated` }).issueNonce()
    expect(await source().checkNonce(nonce)).toEqual({ valid: false })
  })

  it('a tampered MAC, salt or step is refused', async () => {
    const nonces = source()
    const nonce = await nonces.issueNonce()
    const [step, salt, mac] = nonce.split('.') as [string, string, string]
    const flip = (text: string, at: number) =>
      text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)
    for (const tampered of [
      `${step}.${salt}.${flip(mac, 0)}`,
      `${step}.${salt}.${flip(mac, mac.length - 1)}`,
      `${step}.${flip(salt, 3)}.${mac}`,
      `${(parseInt(step, 36) - 1).toString(36)}.${salt}.${mac}`,
      `${step}.${salt}.${mac}x`,
      `${step}.${salt}`,
      '',
      'eyJ7S_zG.eyJH0-Z.HX4w-7v',
    ]) {
      expect(await nonces.checkNonce(tampered)).toEqual({ valid: false })
    }
    expect(await nonces.checkNonce(42 as never)).toEqual({ valid: false })
  })

  it('nonces of one purpose fail for another (as vs rs)', async () => {
    const asNonce = await source({ purpose: 'as' }).issueNonce()
    expect(await source({ purpose: 'rs' }).checkNonce(asNonce)).toEqual({ valid: false })
    expect(await source().checkNonce(asNonce)).toEqual({ valid: false }) // default purpose is rs
    expect(await source({ purpose: 'as' }).checkNonce(asNonce)).toMatchObject({ valid: true })
  })

  it('is stateless: another instance (and the other backend) with the same secret accepts the nonce', async () => {
    const nonce = await source().issueNonce()
    expect(await source().checkNonce(nonce)).toMatchObject({ valid: true })
    const other = backends.find((b) => b.name !== name)!.core
    expect(
      await other
        .createNonceSource({ secret: new TextEncoder().encode(SECRET), now: () => T0 })
        .checkNonce(nonce),
    ).toMatchObject({
      valid: true,
    })
  })

  it('refuses short secrets and bad steps', () => {
    expect(() => core.createNonceSource({ secret: 'short' })).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT' }),
    )
    expect(() => core.createNonceSource({ secret: new Uint8Array(31) })).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT' }),
    )
    expect(() => core.createNonceSource({ secret: SECRET, stepSeconds: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT' }),
    )
    expect(() => core.createNonceSource({ secret: SECRET, stepSeconds: Number.NaN })).toThrow(
      expect.objectContaining({ code: 'ERR_DPOP_INVALID_ARGUMENT' }),
    )
  })
})
