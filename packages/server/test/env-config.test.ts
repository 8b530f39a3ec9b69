/**
 * `resourceServerFromEnv` (RS45): the variables express-oauth2-jwt-bearer reads plus Keybound's
 * own, with discovery against a real metadata server on loopback (OpenID Connect Discovery
 * first, then RFC 8414) and a real JWKS, and one configuration error naming every bad variable.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { resourceServerFromEnv, resourceServerOptionsFromEnv } from '@keybound/server'
import { listen } from '@keybound/test-kit/net'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'
const SECRET_VALUE = 'too-short-secret'

let issuer: TestIssuer
let key: DPoPKeyPair
let metadataServer: { url: string; close: () => Promise<void> }
/** Metadata documents served, by path; each request's path is recorded. */
const documents = new Map<string, Record<string, unknown>>()
const requested: string[] = []

beforeAll(async () => {
  ;[issuer, key] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    generateKeyPair('ES256'),
  ])
  metadataServer = await listen(
    createServer((req: IncomingMessage, res) => {
      requested.push(req.url ?? '')
      const document = documents.get(req.url ?? '')
      res.statusCode = document === undefined ? 404 : 200
      res.setHeader('Content-Type', 'application/json')
      res.end(document === undefined ? '{}' : JSON.stringify(document))
    }),
  )
})

afterAll(async () => {
  await Promise.all([issuer?.close(), metadataServer?.close()])
})

/** Verifies one DPoP request carrying a token from `iss`. */
async function verifyWith(
  resourceServer: Awaited<ReturnType<typeof resourceServerFromEnv>>,
  iss: string,
) {
  const token = await issuer.mint({ jkt: key.jkt, iss })
  const proof = await createProof(key, { htm: 'GET', htu: `${BASE}/items`, accessToken: token })
  return resourceServer.verifyRequest({
    method: 'GET',
    url: '/items',
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  })
}

describe('configuration from the environment (RS45)', () => {
  it('RS45 — ISSUER_BASE_URL is discovered through openid-configuration; tokens then pass', async () => {
    const issuerId = `${metadataServer.url}/oidc`
    documents.set('/oidc/.well-known/openid-configuration', {
      issuer: issuerId,
      jwks_uri: issuer.jwksUri,
    })
    const resourceServer = await resourceServerFromEnv({
      ISSUER_BASE_URL: issuerId,
      AUDIENCE: `https://other.example.test, ${BASE}`,
      KEYBOUND_PUBLIC_BASE_URL: BASE,
      KEYBOUND_DPOP_ALGORITHMS: 'ES256',
    })
    const verdict = await verifyWith(resourceServer, issuerId)
    expect(verdict).toMatchObject({ ok: true, identity: { subject: 'alice', jkt: key.jkt } })
    expect(await verifyWith(resourceServer, `${metadataServer.url}/another`)).toMatchObject({
      ok: false,
      status: 401,
      error: 'invalid_token',
    })
    expect(resourceServer.algorithms).toEqual(['ES256'])
  })

  it('RS45 — falls back to RFC 8414 (path-suffixed well-known URI) and keeps its issuer', async () => {
    const issuerId = `${metadataServer.url}/tenant`
    documents.set('/.well-known/oauth-authorization-server/tenant', {
      issuer: issuerId,
      jwks_uri: issuer.jwksUri,
    })
    requested.length = 0
    const resourceServer = await resourceServerFromEnv({
      ISSUER_BASE_URL: issuerId,
      AUDIENCE: BASE,
      KEYBOUND_PUBLIC_BASE_URL: BASE,
    })
    expect(requested).toEqual([
      '/tenant/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server/tenant',
    ])
    expect(await verifyWith(resourceServer, issuerId)).toMatchObject({ ok: true })
  })

  it('RS45 — ISSUER_BASE_URL may be the metadata URL itself, as the peer allows', async () => {
    const issuerId = `${metadataServer.url}/direct`
    documents.set('/direct/.well-known/openid-configuration', {
      issuer: issuerId,
      jwks_uri: issuer.jwksUri,
    })
    requested.length = 0
    const resourceServer = await resourceServerFromEnv({
      ISSUER_BASE_URL: `${issuerId}/.well-known/openid-configuration`,
      AUDIENCE: BASE,
      KEYBOUND_PUBLIC_BASE_URL: BASE,
    })
    expect(requested).toEqual(['/direct/.well-known/openid-configuration'])
    expect(await verifyWith(resourceServer, issuerId)).toMatchObject({ ok: true })
    await expect(
      resourceServerOptionsFromEnv({
        ISSUER_BASE_URL: `${metadataServer.url}/.well-known/jwks.json`,
        AUDIENCE: BASE,
        KEYBOUND_PUBLIC_BASE_URL: BASE,
      }),
    ).rejects.toThrow('ISSUER_BASE_URL is a well-known URL of no known kind; set ISSUER too')
  })

  it('RS45 — metadata naming another issuer is refused at start-up (RFC 8414 §3.3)', async () => {
    documents.set('/mixup/.well-known/openid-configuration', {
      issuer: 'https://attacker.example.test',
      jwks_uri: issuer.jwksUri,
    })
    await expect(
      resourceServerFromEnv({
        ISSUER_BASE_URL: `${metadataServer.url}/mixup`,
        AUDIENCE: BASE,
        KEYBOUND_PUBLIC_BASE_URL: BASE,
      }),
    ).rejects.toThrow(/^ISSUER_BASE_URL: the metadata at .* names another issuer/)
  })

  it('RS45 — no metadata at all names ISSUER_BASE_URL and the way out', async () => {
    await expect(
      resourceServerFromEnv({
        ISSUER_BASE_URL: `${metadataServer.url}/nothing`,
        AUDIENCE: BASE,
        KEYBOUND_PUBLIC_BASE_URL: BASE,
      }),
    ).rejects.toThrow(/ISSUER_BASE_URL: no issuer metadata found .*set JWKS_URI and ISSUER/)
  })

  it('RS45 — ISSUER and JWKS_URI skip discovery; Keybound variables reach the options', async () => {
    requested.length = 0
    const env = {
      ISSUER: issuer.issuer,
      JWKS_URI: issuer.jwksUri,
      AUDIENCE: BASE,
      TOKEN_SIGNING_ALG: 'ES256',
      KEYBOUND_TOKEN_CLOCK_TOLERANCE: '5',
      KEYBOUND_PUBLIC_BASE_URL: BASE,
      KEYBOUND_DPOP_NONCE_SECRET: 'a nonce secret of at least 32 bytes, from the environment',
      KEYBOUND_ALLOW_BEARER: 'true',
      KEYBOUND_TRUST_PROXY: 'FALSE',
      KEYBOUND_REALM: 'api',
    }
    const options = await resourceServerOptionsFromEnv(env)
    expect(requested).toEqual([])
    expect(options).toMatchObject({
      publicBaseUrl: BASE,
      allowBearer: true,
      trustProxy: false,
      realm: 'api',
      nonces: { secret: env.KEYBOUND_DPOP_NONCE_SECRET },
    })
    const resourceServer = await resourceServerFromEnv(env)
    // Nonces are on: the first request is answered with use_dpop_nonce, in the realm.
    const verdict = await verifyWith(resourceServer, issuer.issuer)
    expect(verdict).toMatchObject({ ok: false, status: 401, error: 'use_dpop_nonce' })
    expect(verdict.ok === false && verdict.responseHeaders['WWW-Authenticate']).toMatch(
      /^Bearer realm="api", DPoP realm="api", error="use_dpop_nonce"/,
    )
  })

  it('RS45 — one error names every bad variable, and never a secret value', async () => {
    let error: Error | undefined
    try {
      await resourceServerFromEnv({
        KEYBOUND_PUBLIC_BASE_URL: 'http://api.example.test',
        JWKS_URI: 'ftp://keys.example.test',
        TOKEN_SIGNING_ALG: 'HS256',
        KEYBOUND_TOKEN_CLOCK_TOLERANCE: 'ten',
        SECRET: 'hs256-secret',
        KEYBOUND_DPOP_NONCE_SECRET: SECRET_VALUE,
        KEYBOUND_ALLOW_BEARER: 'yes',
        KEYBOUND_TRUST_PROXY: '1',
        KEYBOUND_DPOP_ALGORITHMS: 'ES256 none',
        KEYBOUND_REALM: 'a "quoted" realm',
      })
    } catch (caught) {
      error = caught as Error
    }
    expect(error?.name).toBe('InvalidArgument')
    const message = error!.message
    for (const name of [
      'KEYBOUND_PUBLIC_BASE_URL must be https outside loopback',
      'JWKS_URI must be an https URL',
      'ISSUER_BASE_URL is required, or both ISSUER and JWKS_URI',
      'AUDIENCE is required',
      'TOKEN_SIGNING_ALG must list asymmetric JWS algorithms',
      '(not HS256)',
      'KEYBOUND_TOKEN_CLOCK_TOLERANCE must be a whole number of seconds',
      'SECRET is not supported',
      'KEYBOUND_DPOP_NONCE_SECRET must be at least 32 bytes',
      'KEYBOUND_ALLOW_BEARER must be true or false',
      'KEYBOUND_TRUST_PROXY must be true or false',
      'KEYBOUND_DPOP_ALGORITHMS must list',
      '(not none)',
      'KEYBOUND_REALM must be printable ASCII',
    ])
      expect(message).toContain(name)
    expect(message).not.toContain(SECRET_VALUE)
    expect(message).not.toContain('hs256-secret')
  })

  it('RS45 — KEYBOUND_PUBLIC_BASE_URL is required', async () => {
    await expect(
      resourceServerOptionsFromEnv({
        ISSUER: issuer.issuer,
        JWKS_URI: issuer.jwksUri,
        AUDIENCE: BASE,
      }),
    ).rejects.toThrow('KEYBOUND_PUBLIC_BASE_URL is required')
  })
})
