/**
 * `keybound serve` as a child process: the demo API publishes its RFC 9728 metadata and names
 * it in its challenges, so a client that knows only the API's URL and the service client's
 * credentials finds the demo authorization server and gets through (RFC 9728 §5).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clientCredentialsGrant, clientSecretPost, createResourceFetch } from '@keybound/client'
import { generateKeyPair } from '@keybound/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { servePorts, startServe, type ServeProcess } from './support/stack.js'

let dataDir: string
let stack: ServeProcess

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'keybound-demo-metadata-'))
  stack = await startServe(dataDir, await servePorts())
}, 60_000)

afterAll(async () => {
  await stack?.stop()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

describe('the demo API publishes protected-resource metadata (RS35)', () => {
  it('RS35: serves the document at the well-known URL, naming the demo authorization server', async () => {
    const response = await fetch(`${stack.urls.api}/.well-known/oauth-protected-resource`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      resource: stack.urls.api,
      authorization_servers: [stack.urls.issuer],
      scopes_supported: ['notes:read', 'notes:write'],
      dpop_bound_access_tokens_required: true,
    })
    const refused = await fetch(`${stack.urls.api}/api/me`)
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toContain(
      `resource_metadata="${stack.urls.api}/.well-known/oauth-protected-resource"`,
    )
  })

  it('RS35: a client that knows only the API URL gets from the 401 to its answer', async () => {
    const api = createResourceFetch({
      key: await generateKeyPair('ES256'),
      obtainToken: clientCredentialsGrant({
        clientId: 'demo-service',
        clientAuth: clientSecretPost(stack.serviceSecret),
        issuer: stack.urls.issuer,
      }),
    })
    const response = await api(`${stack.urls.api}/api/me`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ client_id: 'demo-service', token_type: 'DPoP' })
  })
})
