/**
 * The gateway's protected-resource metadata (RFC 9728): served at the well-known URL by the
 * gateway itself (never forwarded), named in every challenge (§5.1), and validated with the
 * rest of the config. Real gateway, test issuer and upstream on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ISSUER, baseConfig, configProblems, PUBLIC_BASE, startGateway } from './support/fixture.js'
import { send } from './support/http.js'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'
import { startUpstream, type TestUpstream } from './support/upstream.js'

let issuer: TestIssuer
let upstream: TestUpstream

beforeAll(async () => {
  ;[issuer, upstream] = await Promise.all([startTestIssuer(ISSUER), startUpstream()])
})
afterAll(async () => {
  await Promise.all([issuer.close(), upstream.close()])
})

describe('gateway protected-resource metadata (RS33)', () => {
  it('RS33: serves the document itself, defaults from the config, and names it in challenges', async () => {
    const running = await startGateway(
      baseConfig(issuer, upstream, {
        routes: [{ prefix: '/', scopes: ['items:read'] }],
        resourceMetadata: { scopesSupported: ['items:read'] },
      }),
    )
    try {
      const hitsBefore = upstream.hits()
      const got = await send(`${running.url}/.well-known/oauth-protected-resource`)
      expect(got.status).toBe(200)
      expect(JSON.parse(got.text)).toEqual({
        resource: PUBLIC_BASE,
        authorization_servers: [issuer.issuer],
        scopes_supported: ['items:read'],
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: ['ES256'],
        dpop_bound_access_tokens_required: true,
      })
      // A catch-all route protects everything else, but the metadata never reaches upstream.
      expect(upstream.hits()).toBe(hitsBefore)
      const refused = await send(`${running.url}/items`)
      expect(refused.status).toBe(401)
      expect(refused.headers['www-authenticate']).toBe(
        `DPoP algs="ES256", resource_metadata="${PUBLIC_BASE}/.well-known/oauth-protected-resource"`,
      )
      const posted = await send(`${running.url}/.well-known/oauth-protected-resource`, {
        method: 'POST',
      })
      expect(posted.status).toBe(405)
    } finally {
      await running.gateway.close()
    }
  })

  it('RS33: a resource with a path is served at the path-suffixed URL', async () => {
    const running = await startGateway(
      baseConfig(issuer, upstream, {
        allowBearer: true,
        resourceMetadata: { resource: `${PUBLIC_BASE}/items`, resourceName: 'Items' },
      }),
    )
    try {
      const got = await send(`${running.url}/.well-known/oauth-protected-resource/items`)
      expect(got.status).toBe(200)
      expect(JSON.parse(got.text)).toMatchObject({
        resource: `${PUBLIC_BASE}/items`,
        resource_name: 'Items',
        dpop_bound_access_tokens_required: false,
      })
    } finally {
      await running.gateway.close()
    }
  })

  it('RS33: config errors name each bad field under resourceMetadata', () => {
    const problems = configProblems(
      baseConfig(issuer, upstream, {
        resourceMetadata: {
          authorizationServers: ['not a url'],
          scopesSupported: ['bad"scope'],
          color: 'blue',
        },
      }),
    )
    expect(problems).toEqual(
      expect.arrayContaining([
        'resourceMetadata.color: is not a known setting',
        'resourceMetadata.authorizationServers[0]: must be an absolute URL',
        'resourceMetadata.scopesSupported[0]: must be an RFC 6749 scope token',
      ]),
    )
    const introspected = configProblems(
      baseConfig(issuer, upstream, {
        tokens: {
          introspection: {
            endpoint: 'https://as.example.test/introspect',
            clientId: 'rs',
            clientSecretEnv: 'UNSET_SECRET',
            audience: PUBLIC_BASE,
          },
        },
        resourceMetadata: {},
      }),
    )
    expect(introspected).toContain(
      'resourceMetadata.authorizationServers: is required when tokens are introspected',
    )
  })
})
