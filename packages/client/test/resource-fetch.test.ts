/**
 * createResourceFetch starting from a 401 alone: a real @keybound/server resource server (node
 * adapter, RS nonces on) that serves RFC 9728 metadata and names it in its challenges, and the
 * real Keybound authorization server (SQLite in a temp folder) that issues DPoP-bound tokens,
 * both on loopback. The broken-metadata cases use small loopback servers that answer exactly
 * the broken shape under test.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type RequestListener, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthorizationServer, type AuthorizationServer } from '@keybound/authorization-server'
import { generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  createProtectedResourceMetadata,
  createResourceServer,
  jwtAccessTokens,
} from '@keybound/server'
import { protect, withProtectedResourceMetadata } from '@keybound/server/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientCredentialsGrant,
  clientSecretBasic,
  createResourceFetch,
  InvalidArgument,
  IssuerMismatch,
  NoAuthorizationServer,
  ResourceMetadataInvalid,
  ResourceMismatch,
  type ObtainToken,
} from '../src/index.js'
import { listen } from '@keybound/test-kit/net'

const SECRET = 'resource-fetch-secret-0123456789abcdef'

interface Loopback {
  url: string
  server: Server
  use(listener: RequestListener): void
  close(): Promise<void>
}

/** A loopback server whose listener is set after its URL is known. */
async function startLoopback(): Promise<Loopback> {
  let current: RequestListener = (_req, res) => void res.writeHead(503).end()
  const server = createServer((req, res) => current(req, res))
  const { url, close } = await listen(server)
  return {
    url,
    server,
    use: (listener) => void (current = listener),
    close,
  }
}

let dataDir: string
let as: AuthorizationServer
let issuer: string
let api: Loopback
let key: DPoPKeyPair
const statuses: number[] = []

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'kb-client-rf-'))
  api = await startLoopback()
  const resource = `${api.url}/mcp`
  as = await createAuthorizationServer(
    {
      clients: [
        {
          client_id: 'agent',
          client_secret: SECRET,
          grant_types: ['client_credentials'],
          scope: 'tools',
          dpop_bound_access_tokens: true,
        },
      ],
      resources: [{ identifier: resource }],
      storage: { dataDir },
    },
    { logger: false as never, env: {} },
  )
  issuer = await as.listen()
  const metadata = createProtectedResourceMetadata({
    resource,
    authorizationServers: [issuer],
    scopesSupported: ['tools'],
  })
  const resourceServer = createResourceServer({
    publicBaseUrl: api.url,
    accessTokens: jwtAccessTokens({ issuer, audience: resource, jwksUri: `${issuer}/jwks` }),
    nonces: { secret: 'resource-fetch-nonce-secret-0123456789abcdef' },
    resourceMetadataUrl: metadata.url,
  })
  const handler = protect(
    resourceServer,
    (req, res, identity) => {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({ client: identity.clientId, aud: identity.claims.aud, path: req.url }),
      )
    },
    { scopes: ['tools'] },
  )
  api.use(
    withProtectedResourceMetadata(metadata, (req, res) => {
      res.on('finish', () => statuses.push(res.statusCode))
      handler(req, res)
    }),
  )
  key = await generateKeyPair('ES256')
})
afterAll(async () => {
  await api?.close()
  await as?.close()
  await rm(dataDir, { recursive: true, force: true })
})

function agentFetch(overrides: Partial<Parameters<typeof createResourceFetch>[0]> = {}) {
  return createResourceFetch({
    key,
    obtainToken: clientCredentialsGrant({
      clientId: 'agent',
      clientAuth: clientSecretBasic(SECRET),
      issuer,
    }),
    ...overrides,
  })
}

describe('createResourceFetch against Keybound servers (C16)', () => {
  it('C16: from a bare 401 it finds the AS, gets a DPoP-bound token for the resource and retries', async () => {
    const mcp = agentFetch()
    statuses.length = 0
    const response = await mcp(`${api.url}/mcp`, { method: 'POST', body: '{"jsonrpc":"2.0"}' })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ client: 'agent', aud: `${api.url}/mcp`, path: '/mcp' })
    // No token (401 with resource_metadata), the token's first proof has no RS nonce (401
    // use_dpop_nonce), then the retry with the nonce.
    expect(statuses).toEqual([401, 401, 200])
    const tokens = mcp.tokenClients.get(`${api.url}/mcp`)!
    expect(tokens.tokens?.tokenType).toBe('DPoP')
    statuses.length = 0
    // The next request under the resource goes with the token and the nonce at once.
    expect((await mcp(`${api.url}/mcp/tools`)).status).toBe(200)
    expect(statuses).toEqual([200])
  })

  it('C16: a custom grant callback gets the checked metadata, the discovered AS and the scope', async () => {
    const seen: Array<Record<string, unknown>> = []
    const obtainToken: ObtainToken = async (context) => {
      seen.push({
        resource: context.resource,
        issuer: context.authorizationServer.issuer,
        scope: context.scope,
        servers: context.resourceMetadata.authorization_servers,
      })
      const tokens = context.createTokenClient({
        clientId: 'agent',
        clientAuth: clientSecretBasic(SECRET),
      })
      await tokens.clientCredentials({ scope: 'tools', resource: context.resource })
      return tokens
    }
    const response = await agentFetch({ obtainToken, scope: 'tools' })(`${api.url}/mcp`)
    expect(response.status).toBe(200)
    expect(seen).toEqual([
      { resource: `${api.url}/mcp`, issuer, scope: 'tools', servers: [issuer] },
    ])
  })

  it('C16: a token that expired without a refresh token is obtained again from the next 401', async () => {
    let grants = 0
    const base = clientCredentialsGrant({
      clientId: 'agent',
      clientAuth: clientSecretBasic(SECRET),
      issuer,
    })
    const mcp = agentFetch({ obtainToken: (context) => (grants++, base(context)) })
    expect((await mcp(`${api.url}/mcp`)).status).toBe(200)
    const tokens = mcp.tokenClients.get(`${api.url}/mcp`)!
    // Client-credentials tokens come without a refresh token: once expired, only a new grant helps.
    tokens.setTokens({ ...tokens.tokens!, expiresAt: Date.now() - 1000 })
    expect((await mcp(`${api.url}/mcp`)).status).toBe(200)
    expect(grants).toBe(2)
  })

  it('C16: concurrent first requests share one discovery and one token', async () => {
    let grants = 0
    const base = clientCredentialsGrant({
      clientId: 'agent',
      clientAuth: clientSecretBasic(SECRET),
      issuer,
    })
    const mcp = agentFetch({ obtainToken: (context) => (grants++, base(context)) })
    const answers = await Promise.all([1, 2, 3].map(() => mcp(`${api.url}/mcp`)))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(grants).toBe(1)
  })
})

describe('createResourceFetch refuses metadata it must not trust (C17)', () => {
  it('C17: metadata about another resource is refused (RFC 9728 §3.3), nothing is fetched from its AS', async () => {
    const rogue = await startLoopback()
    let asked = 0
    rogue.use((req, res) => {
      if (req.url === '/.well-known/oauth-protected-resource') {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ resource: `${api.url}/mcp`, authorization_servers: [issuer] }))
        return
      }
      asked++
      res.writeHead(401, {
        'www-authenticate': `DPoP algs="ES256", resource_metadata="${rogue.url}/.well-known/oauth-protected-resource"`,
      })
      res.end()
    })
    try {
      const error = await agentFetch()(`${rogue.url}/mcp`).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(ResourceMismatch)
      expect((error as ResourceMismatch).code).toBe('ERR_DPOP_CLIENT_RESOURCE_MISMATCH')
      expect(asked).toBe(1)
    } finally {
      await rogue.close()
    }
  })

  it('C17: a same-origin path prefix is accepted unless strictResourceMatch is on', async () => {
    expect((await agentFetch()(`${api.url}/mcp/sub`)).status).toBe(200)
    const strict = await agentFetch({ strictResourceMatch: true })(`${api.url}/mcp/sub`).catch(
      (caught: unknown) => caught,
    )
    expect(strict).toBeInstanceOf(ResourceMismatch)
    // `/mcpx` is not under `/mcp`: the prefix must end on a segment boundary.
    const sibling = await agentFetch()(`${api.url}/mcpx`).catch((caught: unknown) => caught)
    expect(sibling).toBeInstanceOf(ResourceMismatch)
  })
})

describe('client credentials go only to their own authorization server (D25)', () => {
  it('D25: a resource naming another AS gets no token request and no secret', async () => {
    const rogueAs = await startLoopback()
    const rogueRequests: string[] = []
    rogueAs.use((req, res) => {
      rogueRequests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ issuer: rogueAs.url, token_endpoint: `${rogueAs.url}/token` }))
    })
    const phishing = await startLoopback()
    phishing.use((req, res) => {
      if (req.url!.startsWith('/.well-known/')) {
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            resource: `${phishing.url}/api`,
            authorization_servers: [rogueAs.url, issuer],
          }),
        )
        return
      }
      res.writeHead(401, {
        'www-authenticate': `DPoP algs="ES256", resource_metadata="${phishing.url}/.well-known/oauth-protected-resource/api"`,
      })
      res.end()
    })
    try {
      const rogueOnly = agentFetch({ chooseAuthorizationServer: () => rogueAs.url })
      await expect(rogueOnly(`${phishing.url}/api`)).rejects.toThrow(NoAuthorizationServer)
      // Only the rogue AS's public metadata was read; no token request, no Authorization header.
      expect(rogueRequests).toEqual(['GET /.well-known/oauth-authorization-server '])
      // By default the fetch skips the AS the credentials do not belong to and asks the real
      // one, which refuses a token for a resource it does not know (RFC 8707 invalid_target).
      await expect(agentFetch()(`${phishing.url}/api`)).rejects.toThrow(/invalid_target/)
      expect(rogueRequests).toHaveLength(1)
    } finally {
      await Promise.all([rogueAs.close(), phishing.close()])
    }
  })

  it('D25: clientCredentialsGrant with client authentication needs the issuer', () => {
    expect(() =>
      clientCredentialsGrant({ clientId: 'agent', clientAuth: clientSecretBasic(SECRET) }),
    ).toThrow(/^issuer must be set with client authentication/)
    expect(() => clientCredentialsGrant({ clientId: 'public-agent' })).not.toThrow()
  })
})

describe('createResourceFetch names each broken step (C18)', () => {
  let broken: Loopback
  let answer: (res: import('node:http').ServerResponse) => void
  beforeAll(async () => {
    broken = await startLoopback()
    broken.use((req, res) => {
      if (req.url!.startsWith('/.well-known/')) return answer(res)
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="x", DPoP algs="ES256", resource_metadata="${broken.url}/.well-known/oauth-protected-resource/api"`,
      })
      res.end()
    })
  })
  afterAll(() => broken.close())

  const json = (body: unknown) => (res: import('node:http').ServerResponse) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body))
  }

  type Respond = (res: import('node:http').ServerResponse) => void
  it.each<[string, string, Respond]>([
    ['an HTTP error', 'status', (res) => void res.writeHead(404).end()],
    ['not JSON', 'json', (res) => void res.end('<html>')],
    ['a JSON array', 'json', json([])],
    [
      'a streamed body over 64 KiB',
      'size',
      (res) => {
        res.setHeader('content-type', 'application/json')
        res.write(`{"padding":"${'a'.repeat(70_000)}`)
        res.end('"}')
      },
    ],
    ['no resource', 'resource', json({ authorization_servers: ['https://as.example.test'] })],
    [
      'no authorization servers',
      'authorization_servers',
      json({ resource: 'RESOURCE', authorization_servers: [] }),
    ],
    [
      'a bad alg list',
      'dpop_signing_alg_values_supported',
      json({
        resource: 'RESOURCE',
        authorization_servers: ['x'],
        dpop_signing_alg_values_supported: 'ES256',
      }),
    ],
  ])('C18: metadata with %s is ResourceMetadataInvalid (%s)', async (_name, reason, respond) => {
    answer = (res) => {
      const write = res.end.bind(res)
      // RESOURCE stands for this server's own resource, so only the broken member is wrong.
      res.end = ((chunk?: unknown) =>
        write(
          typeof chunk === 'string' ? chunk.replaceAll('RESOURCE', `${broken.url}/api`) : chunk,
        )) as never
      respond(res)
    }
    const error = await agentFetch()(`${broken.url}/api`).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ResourceMetadataInvalid)
    expect((error as ResourceMetadataInvalid).reason).toBe(reason)
  })

  it('C18: an alg the resource does not list, a refused AS choice and an AS issuer mismatch', async () => {
    answer = json({
      resource: `${broken.url}/api`,
      authorization_servers: [issuer],
      dpop_signing_alg_values_supported: ['EdDSA'],
    })
    await expect(agentFetch()(`${broken.url}/api`)).rejects.toThrow(InvalidArgument)
    answer = json({ resource: `${broken.url}/api`, authorization_servers: [issuer] })
    await expect(
      agentFetch({ chooseAuthorizationServer: () => 'https://elsewhere.example.test' })(
        `${broken.url}/api`,
      ),
    ).rejects.toThrow(NoAuthorizationServer)
    // The AS metadata is fetched for `issuer/` but says `issuer`: RFC 8414 §3.3 refuses it.
    answer = json({ resource: `${broken.url}/api`, authorization_servers: [`${issuer}/`] })
    await expect(
      agentFetch({ chooseAuthorizationServer: (issuers) => issuers[0] })(`${broken.url}/api`),
    ).rejects.toThrow(IssuerMismatch)
  })

  it('C18: a 401 without resource_metadata is handed back as it is', async () => {
    const plain = await startLoopback()
    plain.use(
      (_req, res) => void res.writeHead(401, { 'www-authenticate': 'DPoP algs="ES256"' }).end(),
    )
    try {
      expect((await agentFetch()(`${plain.url}/x`)).status).toBe(401)
    } finally {
      await plain.close()
    }
  })
})
