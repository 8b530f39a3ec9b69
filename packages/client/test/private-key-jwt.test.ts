/**
 * `private_key_jwt` client assertions (RFC 7523 §2.2) signed by the client with every algorithm
 * core supports, verified over real HTTP: by jose behind a loopback token endpoint, and by this
 * repository's authorization server. The client signs with core's algorithm table, so a new
 * algorithm in core must pass here without a change in the client.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthorizationServer, type AuthorizationServer } from '@keybound/authorization-server'
import { generateKeyPair, SUPPORTED_ALGORITHMS, type DPoPAlgorithm } from '@keybound/core'
import { importJWK, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokenClient, discover, InvalidArgument, privateKeyJwt } from '../src/index.js'
import {
  startProofCheckingServer,
  type ProofCheckingServer,
} from './support/proof-checking-server.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

describe('private_key_jwt with every algorithm core supports, verified by jose', () => {
  let server: ProofCheckingServer
  beforeAll(async () => {
    server = await startProofCheckingServer()
  })
  afterAll(() => server.close())

  it.each(SUPPORTED_ALGORITHMS)(
    '%s signs a client assertion the token endpoint accepts',
    async (alg) => {
      const clientKey = await generateKeyPair(alg)
      const proofKey = await generateKeyPair('ES256')
      const publicKey = await importJWK({ ...clientKey.publicJwk, alg }, alg)
      server.routes.set('/token', async (_request, seen) => {
        const form = new URLSearchParams(seen.body)
        if (form.get('client_assertion_type') !== ASSERTION_TYPE)
          return Response.json({ error: 'invalid_client' }, { status: 401 })
        try {
          const { protectedHeader } = await jwtVerify(form.get('client_assertion')!, publicKey, {
            algorithms: [alg],
            issuer: 'svc',
            subject: 'svc',
            audience: server.url,
          })
          if (protectedHeader.kid !== 'k1') throw new Error('kid')
        } catch {
          return Response.json({ error: 'invalid_client' }, { status: 401 })
        }
        return Response.json({ access_token: `at-${alg}`, token_type: 'DPoP' })
      })
      const tokens = createTokenClient({
        metadata: { issuer: server.url, token_endpoint: `${server.url}/token` },
        clientId: 'svc',
        clientAuth: privateKeyJwt(clientKey, { kid: 'k1' }),
        key: proofKey,
      })
      expect((await tokens.clientCredentials()).accessToken).toBe(`at-${alg}`)
    },
  )

  it('refuses a signer whose alg core does not support', () => {
    const signer = { alg: 'HS256', publicJwk: { kty: 'oct' }, sign: () => new Uint8Array(32) }
    expect(() => privateKeyJwt(signer as never)).toThrow(InvalidArgument)
  })
})

describe('private_key_jwt against the Keybound authorization server', () => {
  let dataDir: string
  let as: AuthorizationServer
  let issuer: string
  const keys = new Map<DPoPAlgorithm, Awaited<ReturnType<typeof generateKeyPair>>>()

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kb-client-jwt-'))
    for (const alg of SUPPORTED_ALGORITHMS) keys.set(alg, await generateKeyPair(alg))
    as = await createAuthorizationServer(
      {
        clients: SUPPORTED_ALGORITHMS.map((alg) => ({
          client_id: `svc-${alg}`,
          jwks: { keys: [{ ...keys.get(alg)!.publicJwk, kid: `k-${alg}`, alg }] },
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials'],
          scope: 'read',
        })),
        storage: { dataDir },
      },
      { logger: false as never, env: {} },
    )
    issuer = await as.listen()
  })
  afterAll(async () => {
    await as?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it("every algorithm core supports gets a token from this repository's server", async () => {
    const metadata = await discover(issuer)
    const accepted = metadata.token_endpoint_auth_signing_alg_values_supported as string[]
    // The server takes its list from core's table: a drift (Ed25519 once) fails here.
    expect([...accepted].sort()).toEqual([...SUPPORTED_ALGORITHMS].sort())
    const common = SUPPORTED_ALGORITHMS.filter((alg) => accepted.includes(alg))
    const proofKey = await generateKeyPair('ES256')
    for (const alg of common) {
      const tokens = createTokenClient({
        metadata,
        clientId: `svc-${alg}`,
        clientAuth: privateKeyJwt(keys.get(alg)!, { kid: `k-${alg}` }),
        key: proofKey,
      })
      const set = await tokens.clientCredentials({ scope: 'read' })
      expect(set.tokenType, alg).toBe('DPoP')
    }
  })
})
