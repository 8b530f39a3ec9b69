/**
 * Protected-resource metadata (RFC 9728): the document the builder makes, where it is served
 * (root and path-suffixed well-known URLs) by each adapter over real HTTP on loopback, and the
 * `resource_metadata` parameter on the challenges of a real resource server (RFC 9728 §5.1).
 */
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { generateKeyPair } from '@keybound/core'
import {
  createProtectedResourceMetadata,
  createResourceServer,
  jwtAccessTokens,
  resourceMetadataUrlOf,
  type ProtectedResourceMetadata,
  type ResourceServer,
} from '@keybound/server'
import {
  dpop as expressDpop,
  protectedResourceMetadata as expressMetadata,
} from '@keybound/server/express'
import { dpopPreHandler, serveProtectedResourceMetadata } from '@keybound/server/fastify'
import { dpop as honoDpop, protectedResourceMetadata as honoMetadata } from '@keybound/server/hono'
import { protect, withProtectedResourceMetadata } from '@keybound/server/node'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { send } from './support/http.js'
import { listen } from '@keybound/test-kit/net'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const AS = 'https://as.example.test'

function metadataFor(resource: string): ProtectedResourceMetadata {
  return createProtectedResourceMetadata({
    resource,
    authorizationServers: [AS],
    scopesSupported: ['read', 'write'],
  })
}

describe('protected-resource metadata document (RS30)', () => {
  it('RS30: carries every RFC 9728 §2 and RFC 9449 §5.1 member, with DPoP-only defaults', () => {
    const metadata = createProtectedResourceMetadata({
      resource: 'https://api.example.test/mcp',
      authorizationServers: [AS, 'https://as2.example.test/tenant'],
      scopesSupported: ['tools:read'],
      dpopSigningAlgValuesSupported: ['ES256', 'EdDSA'],
      resourceName: 'Example MCP',
    })
    expect(metadata.document).toEqual({
      resource: 'https://api.example.test/mcp',
      authorization_servers: [AS, 'https://as2.example.test/tenant'],
      scopes_supported: ['tools:read'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
      dpop_bound_access_tokens_required: true,
      resource_name: 'Example MCP',
    })
    expect(Object.isFrozen(metadata.document)).toBe(true)
    expect(metadata.url).toBe('https://api.example.test/.well-known/oauth-protected-resource/mcp')
    expect(metadata.path).toBe('/.well-known/oauth-protected-resource/mcp')
  })

  it('RS30: puts the well-known segment between host and path (RFC 9728 §3.1)', () => {
    expect(resourceMetadataUrlOf('https://api.example.test')).toBe(
      'https://api.example.test/.well-known/oauth-protected-resource',
    )
    expect(resourceMetadataUrlOf('https://api.example.test/')).toBe(
      'https://api.example.test/.well-known/oauth-protected-resource',
    )
    expect(resourceMetadataUrlOf('https://api.example.test:8443/v1/items?tenant=a')).toBe(
      'https://api.example.test:8443/.well-known/oauth-protected-resource/v1/items?tenant=a',
    )
  })

  it('RS30: refuses bad options, naming every bad field by its path at once', () => {
    const build = () =>
      createProtectedResourceMetadata({
        resource: 'http://api.example.test/x#frag',
        authorizationServers: ['https://as.example.test', 'not a url'],
        scopesSupported: ['ok', 'bad"scope'],
        bearerMethodsSupported: ['header', 'cookie' as never],
        dpopSigningAlgValuesSupported: ['none'],
      })
    expect(build).toThrow(/resource must use https outside loopback/)
    expect(build).toThrow(/resource must not have a fragment/)
    expect(build).toThrow(/authorizationServers\[1\] must be an absolute URL/)
    expect(build).toThrow(/scopesSupported\[1\] must be an RFC 6749 scope token/)
    expect(build).toThrow(/bearerMethodsSupported\[1\] must be "header", "body" or "query"/)
    expect(build).toThrow(/dpopSigningAlgValuesSupported\[0\] is not a proof algorithm/)
    expect(() =>
      createProtectedResourceMetadata({
        resource: 'https://api.example.test',
        authorizationServers: [],
      }),
    ).toThrow(/authorizationServers must name at least one/)
  })
})

type Start = (
  metadata: ProtectedResourceMetadata,
  resourceServer: ResourceServer,
) => Promise<{
  url: string
  close(): Promise<void>
}>

const ok: RequestListener = (_req, res) => void res.end('ok')

const ADAPTERS: Record<string, Start> = {
  express: async (metadata, resourceServer) => {
    const app = express()
    app.use(expressMetadata(metadata))
    app.get('/mcp', expressDpop(resourceServer), (_req, res) => void res.send('ok'))
    return listen(createServer(app))
  },
  fastify: async (metadata, resourceServer) => {
    const app = Fastify()
    serveProtectedResourceMetadata(app, metadata)
    app.get('/mcp', { preHandler: dpopPreHandler(resourceServer) }, async () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
  },
  hono: async (metadata, resourceServer) => {
    const app = new Hono()
    app.use(honoMetadata(metadata))
    app.get('/mcp', honoDpop(resourceServer), (c) => c.text('ok'))
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(started),
      )
    })
    const { port } = server.address() as AddressInfo
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
          server.close(() => resolve())
        }),
    }
  },
  node: async (metadata, resourceServer) => {
    const protectedMcp = protect(resourceServer, ok)
    const route: RequestListener = (req, res) => {
      if (req.url === '/mcp') protectedMcp(req, res)
      else res.writeHead(404).end()
    }
    return listen(createServer(withProtectedResourceMetadata(metadata, route)))
  },
}

let issuer: TestIssuer

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: 'https://rs.example.test' })
})
afterAll(async () => {
  await issuer.close()
})

function resourceServerFor(metadata: ProtectedResourceMetadata, allowBearer = false) {
  return createResourceServer({
    publicBaseUrl: 'https://api.example.test',
    accessTokens: jwtAccessTokens({
      issuer: issuer.issuer,
      audience: issuer.audience,
      jwksUri: issuer.jwksUri,
    }),
    resourceMetadataUrl: metadata.url,
    allowBearer,
  })
}

describe.each(Object.keys(ADAPTERS))('the %s adapter serves the metadata (RS32)', (name) => {
  const start = ADAPTERS[name]!

  it('RS32: answers the path-suffixed well-known URL with the JSON document, and HEAD too', async () => {
    const metadata = metadataFor('https://api.example.test/mcp')
    const running = await start(metadata, resourceServerFor(metadata))
    try {
      const got = await send(`${running.url}/.well-known/oauth-protected-resource/mcp`)
      expect(got.status).toBe(200)
      expect(got.headers['content-type']).toMatch(/^application\/json/)
      expect(got.headers['access-control-allow-origin']).toBe('*')
      expect(got.json()).toEqual(metadata.document)
      const head = await send(`${running.url}/.well-known/oauth-protected-resource/mcp`, {
        method: 'HEAD',
      })
      expect(head.status).toBe(200)
      expect(head.body).toBe('')
      const post = await send(`${running.url}/.well-known/oauth-protected-resource/mcp`, {
        method: 'POST',
      })
      expect(post.status).toBe(405)
      expect(post.headers.allow).toBe('GET, HEAD')
      // The protected route still runs behind it, and the root form is not this resource's.
      expect((await send(`${running.url}/mcp`)).status).toBe(401)
      expect((await send(`${running.url}/.well-known/oauth-protected-resource`)).status).toBe(404)
    } finally {
      await running.close()
    }
  })

  it('RS32: answers the root well-known URL for a resource without a path', async () => {
    const metadata = metadataFor('https://api.example.test')
    const running = await start(metadata, resourceServerFor(metadata))
    try {
      const got = await send(`${running.url}/.well-known/oauth-protected-resource`)
      expect(got.status).toBe(200)
      expect(got.json()).toMatchObject({ resource: 'https://api.example.test' })
    } finally {
      await running.close()
    }
  })
})

describe('challenges carry resource_metadata (RS31)', () => {
  const metadata = metadataFor('https://api.example.test/mcp')
  const RESOURCE_METADATA = `resource_metadata="${metadata.url}"`

  it('RS31: a 401 without credentials names the metadata URL in the DPoP challenge, over HTTP', async () => {
    const running = await ADAPTERS.express!(metadata, resourceServerFor(metadata))
    try {
      const got = await send(`${running.url}/mcp`)
      expect(got.status).toBe(401)
      expect(got.headers['www-authenticate']).toBe(
        `DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519", ${RESOURCE_METADATA}`,
      )
    } finally {
      await running.close()
    }
  })

  it('RS31: error challenges carry it too, on both schemes when Bearer is offered', async () => {
    const key = await generateKeyPair('ES256')
    const resourceServer = resourceServerFor(metadata, true)
    const invalid = await resourceServer.verifyRequest({
      method: 'GET',
      url: '/mcp',
      headers: { authorization: `DPoP ${await issuer.mint({ jkt: key.jkt, typ: 'JWT' })}` },
    })
    expect(invalid.ok).toBe(false)
    const header = invalid.responseHeaders['WWW-Authenticate']!
    expect(header.match(/resource_metadata="[^"]+"/g)).toEqual([
      RESOURCE_METADATA,
      RESOURCE_METADATA,
    ])
    const bare = createResourceServer({
      publicBaseUrl: 'https://api.example.test',
      accessTokens: { validate: () => Promise.reject(new Error('unused')) },
    })
    const none = await bare.verifyRequest({ method: 'GET', url: '/mcp', headers: {} })
    expect(none.responseHeaders['WWW-Authenticate']).not.toContain('resource_metadata')
  })

  it('RS31: refuses a resourceMetadataUrl that is not an https URL or would break the header', () => {
    const build = (resourceMetadataUrl: string) => () =>
      createResourceServer({
        publicBaseUrl: 'https://api.example.test',
        accessTokens: { validate: () => Promise.reject(new Error('unused')) },
        resourceMetadataUrl,
      })
    expect(build('http://api.example.test/.well-known/oauth-protected-resource')).toThrow(
      /resourceMetadataUrl must use https/,
    )
    expect(build('https://api.example.test/"x')).toThrow(/resourceMetadataUrl must be printable/)
    expect(build('relative/path')).toThrow(/resourceMetadataUrl must be an absolute URL/)
  })
})
