/**
 * The authorization server's own access-token verifier (src/jwt/verify-access-token.ts, ADR
 * 0044): a valid token of a published key gives its claims; every other input gives
 * `undefined`, never a throw, so introspection answers `active: false` for it.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { verifyAccessTokenJwt } from '../src/jwt/verify-access-token.js'
import type { SigningKey } from '../src/keys/signing-keys.js'

const ISSUER = 'https://as.test'
const NOW = 1_900_000_000

function es256Key(kid: string): { key: SigningKey; privateKey: KeyObject } {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    privateKey: pair.privateKey,
    key: {
      kid,
      alg: 'ES256',
      privateKey: pair.privateKey,
      hsmLabel: undefined,
      publicJwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
    },
  }
}

const published = es256Key('k1')
const stranger = es256Key('k1')

function segment(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  )
}

function signed(header: unknown, claims: unknown, privateKey = published.privateKey): string {
  const input = `${segment(header)}.${segment(claims)}`
  const signature = sign('sha256', Buffer.from(input), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${signature.toString('base64url')}`
}

const HEADER = { alg: 'ES256', typ: 'at+jwt', kid: 'k1' }
const CLAIMS = { iss: ISSUER, sub: 'alice', client_id: 'app', exp: NOW + 60, jti: 'j1' }

function verify(token: string) {
  return verifyAccessTokenJwt(token, { keys: [published.key], issuer: ISSUER, now: NOW })
}

describe("the authorization server's access-token verifier (D44)", () => {
  it('gives the claims of a valid token of a published key', () => {
    expect(verify(signed(HEADER, CLAIMS))).toEqual(CLAIMS)
  })

  const valid = signed(HEADER, CLAIMS)
  const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string]
  const hostile: { name: string; token: string }[] = [
    { name: 'empty string', token: '' },
    { name: 'two segments', token: `${validHeader}.${validPayload}` },
    { name: 'four segments', token: `${valid}.x` },
    { name: 'header not JSON', token: `${segment('{')}.${validPayload}.${validSignature}` },
    { name: 'header an array', token: signed([HEADER], CLAIMS) },
    { name: 'typ JWT', token: signed({ ...HEADER, typ: 'JWT' }, CLAIMS) },
    { name: 'typ missing', token: signed({ alg: 'ES256', kid: 'k1' }, CLAIMS) },
    { name: 'kid missing', token: signed({ alg: 'ES256', typ: 'at+jwt' }, CLAIMS) },
    { name: 'kid unknown', token: signed({ ...HEADER, kid: 'k2' }, CLAIMS) },
    { name: 'alg none', token: `${segment({ ...HEADER, alg: 'none' })}.${validPayload}.` },
    { name: 'alg not the key’s', token: signed({ ...HEADER, alg: 'ES384' }, CLAIMS) },
    {
      name: 'signed by another key with the same kid',
      token: signed(HEADER, CLAIMS, stranger.privateKey),
    },
    {
      name: 'payload changed after signing',
      token: `${validHeader}.${segment({ ...CLAIMS, sub: 'mallory' })}.${validSignature}`,
    },
    { name: 'signature empty', token: `${validHeader}.${validPayload}.` },
    { name: 'payload an array', token: signed(HEADER, [CLAIMS]) },
    { name: 'payload not JSON', token: signed(HEADER, 'not json') },
    {
      name: 'iss of another server',
      token: signed(HEADER, { ...CLAIMS, iss: 'https://evil.test' }),
    },
    { name: 'iss missing', token: signed(HEADER, { ...CLAIMS, iss: undefined }) },
    { name: 'exp now', token: signed(HEADER, { ...CLAIMS, exp: NOW }) },
    { name: 'exp past', token: signed(HEADER, { ...CLAIMS, exp: NOW - 1 }) },
    { name: 'exp a string', token: signed(HEADER, { ...CLAIMS, exp: String(NOW + 60) }) },
    { name: 'exp missing', token: signed(HEADER, { ...CLAIMS, exp: undefined }) },
  ]

  it.each(hostile)('refuses, without throwing: $name', ({ token }) => {
    expect(verify(token)).toBeUndefined()
  })
})
