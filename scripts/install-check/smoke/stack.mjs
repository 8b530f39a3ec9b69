// The whole stack from the tarballs: the authorization server issues a DPoP-bound token to
// @keybound/client, which calls an Express resource server and the gateway (in front of a plain
// upstream) with it. Usage: node stack.mjs sqlite|postgres|redis
// (redis: SQLite plus REDIS_URL for the AS's and the gateway's replay stores).
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createAuthorizationServer } from '@keybound/authorization-server'
import { clientSecretBasic, createDPoPFetch, createTokenClient, discover } from '@keybound/client'
import { generateKeyPair } from '@keybound/core'
import { createGateway } from '@keybound/gateway'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { dpop } from '@keybound/server/express'
import express from 'express'
import pg from 'pg'
import { check, expect, finish, listenOnLoopback } from './lib.mjs'

const mode = process.argv[2]
const SECRET = 'smoke-secret-0123456789abcdef'
const SCOPE = 'notes:read'
const closers = []

/** The AS's storage for this mode, and how to drop it afterwards. */
async function storageFor() {
  const dataDir = await mkdtemp(join(tmpdir(), 'kb-install-as-'))
  closers.push(() => rm(dataDir, { recursive: true, force: true }))
  if (mode !== 'postgres') return { dataDir }
  const databaseUrl = process.env.DATABASE_URL
  expect(databaseUrl, 'DATABASE_URL is not set')
  const schema = `kb_install_${randomBytes(6).toString('hex')}`
  closers.push(async () => {
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    await client.query(`drop schema if exists ${schema} cascade`).finally(() => client.end())
  })
  return { dataDir, databaseUrl, schema }
}

/** A loopback origin whose port is free now (the gateway needs its public URL before listening). */
async function freeOrigin() {
  const { origin, close } = await listenOnLoopback(createServer())
  await close()
  return origin
}

const redisUrl = process.env.REDIS_URL
if (mode === 'redis') expect(redisUrl, 'REDIS_URL is not set')

try {
  // The resource server's origin must be known before the AS (it is the tokens' audience).
  const apiServer = createServer()
  const api = await listenOnLoopback(apiServer)
  closers.push(api.close)
  const gatewayOrigin = await freeOrigin()

  let issuer
  await check(`stack/${mode}: the authorization server starts`, async () => {
    const server = await createAuthorizationServer(
      {
        storage: await storageFor(),
        ...(mode === 'redis'
          ? { replay: { redisUrl, keyPrefix: `kb-install:${randomBytes(4).toString('hex')}:` } }
          : {}),
        accessTokens: { audience: api.origin },
        clients: [
          {
            client_id: 'smoke-service',
            client_secret: SECRET,
            grant_types: ['client_credentials'],
            scope: SCOPE,
            dpop_bound_access_tokens: true,
          },
        ],
      },
      { env: {}, logger: false },
    )
    closers.unshift(() => server.close())
    issuer = await server.listen({ port: 0, host: '127.0.0.1' })
  })
  if (issuer === undefined) throw new Error('no authorization server')

  const metadata = await discover(issuer, { allowInsecureHttp: true })
  const jwt = { issuer, audience: api.origin, jwksUri: metadata.jwks_uri }

  const resourceServer = createResourceServer({
    publicBaseUrl: api.origin,
    accessTokens: jwtAccessTokens(jwt),
    allowInsecureHttp: true,
  })
  const app = express()
  app.get('/notes', dpop(resourceServer, { scopes: [SCOPE] }), (req, res) => {
    res.json({ client: req.dpop.clientId })
  })
  apiServer.on('request', app)

  const upstream = await listenOnLoopback(
    createServer((req, res) => res.end(`upstream saw ${req.headers['x-keybound-client-id']}`)),
  )
  closers.push(upstream.close)
  const gateway = createGateway(
    {
      listen: { host: '127.0.0.1', port: Number(new URL(gatewayOrigin).port) },
      publicBaseUrl: gatewayOrigin,
      upstream: { url: upstream.origin },
      tokens: { jwt: { ...jwt, audience: api.origin } },
      replay:
        mode === 'redis'
          ? {
              redis: {
                urlEnv: 'REDIS_URL',
                keyPrefix: `kb-install-gw:${randomBytes(4).toString('hex')}:`,
              },
            }
          : 'memory',
      routes: [{ prefix: '/', scopes: [SCOPE] }],
      log: { level: 'silent' },
    },
    { env: process.env },
  )
  closers.unshift(() => gateway.close())

  const key = await generateKeyPair('ES256')
  const tokens = createTokenClient({
    metadata,
    clientId: 'smoke-service',
    clientAuth: clientSecretBasic(SECRET),
    key,
    allowInsecureHttp: true,
  })
  const dpopFetch = createDPoPFetch({
    key,
    accessToken: () => tokens.getAccessToken(),
    allowInsecureHttp: true,
  })

  await check(
    `stack/${mode}: the client gets a DPoP-bound token (client_credentials)`,
    async () => {
      const set = await tokens.clientCredentials({ scope: SCOPE })
      expect(
        set.tokenType === 'DPoP' || set.token_type === 'DPoP',
        `token type ${JSON.stringify(set.tokenType ?? set.token_type)}`,
      )
    },
  )
  await check(`stack/${mode}: the resource server answers the client 200`, async () => {
    const response = await dpopFetch(`${api.origin}/notes`)
    const text = await response.text()
    expect(response.status === 200, `status ${response.status}: ${text}`)
    expect(JSON.parse(text).client === 'smoke-service', `body ${text}`)
  })
  await check(
    `stack/${mode}: the resource server answers 401 DPoP without credentials`,
    async () => {
      const response = await fetch(`${api.origin}/notes`)
      expect(response.status === 401, `status ${response.status}`)
      expect(/^DPoP\b/.test(response.headers.get('www-authenticate') ?? ''), 'DPoP challenge')
    },
  )
  await check(`stack/${mode}: the gateway forwards the client's request`, async () => {
    await gateway.listen()
    const response = await dpopFetch(`${gatewayOrigin}/anything`)
    const text = await response.text()
    expect(response.status === 200, `status ${response.status}: ${text}`)
    expect(text === 'upstream saw smoke-service', `upstream answer ${text}`)
  })
  await check(`stack/${mode}: the gateway answers 401 DPoP without credentials`, async () => {
    const response = await fetch(`${gatewayOrigin}/anything`)
    expect(response.status === 401, `status ${response.status}`)
    expect(/^DPoP\b/.test(response.headers.get('www-authenticate') ?? ''), 'DPoP challenge')
  })
} catch (error) {
  await check(`stack/${mode}: runs to the end`, () => Promise.reject(error))
} finally {
  for (const close of closers) await close().catch((error) => console.log(`cleanup: ${error}`))
}

finish()
