/**
 * `cnf` as other servers emit it, at our resource server, for RFC 9068 JWT access tokens (signed
 * with jose, keys served as a JWKS over HTTP) and for RFC 7662 introspection responses (served
 * over HTTP): extra members next to `jkt` (`x5t#S256` from RFC 8705 mTLS binding, members we do
 * not know) are tolerated (RFC 7800 §3: unknown members are ignored); a binding that does not
 * fit the proof, or that cannot be read as one SHA-256 thumbprint, is refused.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createProof, exportKeyPair, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { introspectedAccessTokens, jwtAccessTokens } from '@keybound/server'
import { exportJWK, generateKeyPair as joseKeyPair, SignJWT, type CryptoKey } from 'jose'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { compatSuite } from './support/compat.js'
import { closeServer, listen } from '@keybound/test-kit/net'
import { startKeyboundRs, type KeyboundRs } from './support/keybound-rs.js'

const compat = compatSuite('cnf-members')

let issuerServer: Server
let issuer: string
let signingKey: CryptoKey
let jwtRs: KeyboundRs
let introspectionRs: KeyboundRs
let key: DPoPKeyPair
let otherKey: DPoPKeyPair
const introspection = new Map<string, Record<string, unknown>>()

async function jwtWith(cnf: unknown): Promise<string> {
  return new SignJWT({ client_id: 'interop', scope: 'read', cnf: cnf as Record<string, unknown> })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(issuer)
    .setAudience(jwtRs.url)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(signingKey)
}

function opaqueWith(response: Record<string, unknown>): string {
  const token = randomUUID()
  introspection.set(token, {
    active: true,
    client_id: 'interop',
    sub: 'alice',
    scope: 'read',
    exp: Math.floor(Date.now() / 1000) + 300,
    ...response,
  })
  return token
}

async function call(rs: KeyboundRs, token: string, signer = key): Promise<Response> {
  const url = `${rs.url}/items`
  // No RS nonces here: one request per case.
  const dpop = await createProof(signer, { htm: 'GET', htu: url, accessToken: token })
  return fetch(url, { headers: { authorization: `DPoP ${token}`, dpop } })
}

const X5T = 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' // RFC 8705 §3.1 example

beforeAll(async () => {
  ;[key, otherKey] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')])
  const pair = await joseKeyPair('ES256')
  signingKey = pair.privateKey
  const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }
  issuerServer = createServer(async (req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.url === '/jwks') {
      res.end(JSON.stringify(jwks))
      return
    }
    let body = ''
    for await (const chunk of req) body += chunk
    const token = new URLSearchParams(body).get('token') ?? ''
    res.end(JSON.stringify(introspection.get(token) ?? { active: false }))
  })
  issuer = (await listen(issuerServer)).url
  ;[jwtRs, introspectionRs] = await Promise.all([startKeyboundRs(), startKeyboundRs()])
  jwtRs.configure({
    accessTokens: jwtAccessTokens({ issuer, audience: jwtRs.url, jwksUri: `${issuer}/jwks` }),
    nonces: false,
  })
  introspectionRs.configure({
    accessTokens: introspectedAccessTokens({
      endpoint: `${issuer}/introspect`,
      clientId: 'rs',
      clientSecret: 'rs-secret-0123456789',
      // These cases are about cnf; the introspection answers carry no aud.
      audience: false,
    }),
    nonces: false,
  })
})

afterAll(async () => {
  await Promise.all([
    issuerServer && closeServer(issuerServer),
    jwtRs?.close(),
    introspectionRs?.close(),
  ])
})

const tolerated: [string, () => Record<string, unknown>][] = [
  ['x5t#S256 (RFC 8705) next to jkt', () => ({ jkt: key.jkt, 'x5t#S256': X5T })],
  [
    'unknown members next to jkt',
    () => ({ jkt: key.jkt, kid: 'k-123', 'urn:example:ext': { a: 1 } }),
  ],
]

describe('extra cnf members are tolerated', () => {
  for (const [what, cnf] of tolerated) {
    compat.it('jose', `RFC 9068 JWT with cnf: ${what} -> accepted at our RS`, async () => {
      const reply = await call(jwtRs, await jwtWith(cnf()))
      expect(reply.status).toBe(200)
      expect(await reply.json()).toMatchObject({ jkt: key.jkt })
    })
    compat.it(
      '@keybound/server',
      `RFC 7662 introspection with cnf: ${what} -> accepted`,
      async () => {
        const reply = await call(introspectionRs, opaqueWith({ token_type: 'DPoP', cnf: cnf() }))
        expect(reply.status).toBe(200)
        expect(await reply.json()).toMatchObject({ jkt: key.jkt })
      },
    )
  }
})

const conflicting: [string, () => unknown, DPoPKeyPair?][] = [
  ['cnf.jkt of another key than the proof', () => ({ jkt: otherKey.jkt, 'x5t#S256': X5T })],
  ['cnf.jkt as an array of two thumbprints', () => ({ jkt: [key.jkt, otherKey.jkt] })],
  [
    'cnf.jkt of 64 characters (not SHA-256, §11.10)',
    () => ({ jkt: `${key.jkt}${key.jkt}`.slice(0, 64) }),
  ],
  ['cnf that is not an object', () => key.jkt],
]

describe('a conflicting or unreadable binding is refused', () => {
  for (const [what, cnf] of conflicting) {
    compat.it('jose', `RFC 9068 JWT with ${what} -> 401 invalid_token`, async () => {
      const reply = await call(jwtRs, await jwtWith(cnf()))
      expect(reply.status).toBe(401)
      expect(reply.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/)
    })
    compat.it(
      '@keybound/server',
      `RFC 7662 introspection with ${what} -> 401 invalid_token`,
      async () => {
        const reply = await call(introspectionRs, opaqueWith({ token_type: 'DPoP', cnf: cnf() }))
        expect(reply.status).toBe(401)
        expect(reply.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/)
      },
    )
  }

  compat.it(
    '@keybound/server',
    'introspection: token_type Bearer with cnf.jkt -> 401 invalid_token',
    async () => {
      const reply = await call(
        introspectionRs,
        opaqueWith({ token_type: 'Bearer', cnf: { jkt: key.jkt } }),
      )
      expect(reply.status).toBe(401)
    },
  )

  compat.it(
    '@keybound/server',
    'introspection: token_type DPoP without cnf.jkt (only x5t#S256) -> 401',
    async () => {
      const reply = await call(
        introspectionRs,
        opaqueWith({ token_type: 'DPoP', cnf: { 'x5t#S256': X5T } }),
      )
      expect(reply.status).toBe(401)
    },
  )

  compat.it(
    'jose',
    'RFC 9068 JWT whose cnf.jwk (RFC 7800) names another key than cnf.jkt is refused; the same key is accepted',
    async () => {
      const { d: _d, ...otherJwk } = await exportKeyPair(
        await generateKeyPair('ES256', { extractable: true }),
      )
      const conflicting = await call(jwtRs, await jwtWith({ jkt: key.jkt, jwk: otherJwk }))
      expect(conflicting.status).toBe(401)
      expect(conflicting.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/)
      const same = await call(jwtRs, await jwtWith({ jkt: key.jkt, jwk: key.publicJwk }))
      expect(same.status).toBe(200)
    },
  )
})
