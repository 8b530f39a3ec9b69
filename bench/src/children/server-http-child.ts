/**
 * Child process of the server-http suite: one HTTP app (Express or Fastify) with one route per
 * contender, on 127.0.0.1. Started with `fork`, so the parent can ask for this process's CPU
 * time over IPC (`{ type: 'cpu' }` → `{ type: 'cpu', usage }`) without an HTTP route sharing the
 * load. Usage: `server-http-child.js <express|fastify> <port> <issuer> <jwksUri> <audience>`.
 *
 * Routes, all `GET`, all but `/plain` requiring scope `read`, all answering `{"ok":true,"sub":…}`:
 *   express: /keybound (Keybound `dpop()` middleware, in-memory replay store)
 *            /auth0    (express-oauth2-jwt-bearer `auth()` with DPoP required + `requiredScopes`)
 *            /plain    (no verification: the ceiling of any Express route here)
 *            /signature-only (the proof's ES256 signature checked on the thread pool and
 *                      nothing else: the ceiling of any DPoP verifier on this Express app)
 *   fastify: /keybound        (Keybound preHandler, in-memory replay store)
 *            /keybound-redis  (the same with the Redis replay store at REDIS_URL)
 *            /jose-bearer     (a Bearer-only route: jose `jwtVerify` with a remote JWKS)
 */
import {
  createPublicKey,
  randomUUID,
  verify,
  type JsonWebKey,
  type VerifyKeyObjectInput,
} from 'node:crypto'
import type { NextFunction, Request, Response } from 'express'
import { createResourceServer, jwtAccessTokens, type ResourceServer } from '@keybound/server'
import { dpop } from '@keybound/server/express'
import { dpopPlugin, dpopPreHandler } from '@keybound/server/fastify'
import { createRedisReplayStore, type RedisReplayStore } from '@keybound/server/redis'
import express from 'express'
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer'
import Fastify from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'

export type AppKind = 'express' | 'fastify'

export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'cpu'; usage: NodeJS.CpuUsage }
  | { type: 'error'; message: string }

const [kind, portText, issuer, jwksUri, audience] = process.argv.slice(2) as [
  AppKind,
  string,
  string,
  string,
  string,
]
const port = Number(portText)
const publicBaseUrl = `http://127.0.0.1:${port}`
const send = (message: ChildMessage): void => void process.send?.(message)

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage() })
  if (message?.type === 'exit') process.exit(0)
})
// The parent going away ends this process too.
process.on('disconnect', () => process.exit(0))

function keyboundServer(replayStore?: RedisReplayStore): ResourceServer {
  return createResourceServer({
    publicBaseUrl,
    accessTokens: jwtAccessTokens({ issuer, audience, jwksUri }),
    ...(replayStore === undefined ? {} : { replayStore }),
  })
}

const SEXTETS = new Uint8Array(128)
for (const [index, character] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
].entries())
  SEXTETS[character.charCodeAt(0)] = index

// Base64url without any check, the cheapest decode there is. Not node's decoder: on Intel Xeons
// it runs AVX-512 code that slows the signature check after it by a few microseconds (see
// docs/adr/0014-canonical-base64url-in-javascript.md), which would make this bound lower than
// it is.
function decodeUnchecked(text: string): Buffer {
  const out = Buffer.allocUnsafe((text.length * 3) >>> 2)
  const sextet = (at: number): number => SEXTETS[text.charCodeAt(at) & 0x7f]!
  let at = 0
  let i = 0
  for (; i + 4 <= text.length; i += 4) {
    const group = (sextet(i) << 18) | (sextet(i + 1) << 12) | (sextet(i + 2) << 6) | sextet(i + 3)
    out[at++] = group >>> 16
    out[at++] = group >>> 8
    out[at++] = group
  }
  const rest = text.length - i
  if (rest >= 2) out[at++] = (sextet(i) << 2) | (sextet(i + 1) >>> 4)
  if (rest === 3) out[at] = (sextet(i + 1) << 4) | (sextet(i + 2) >>> 2)
  return out
}

// Not a verifier (it accepts any self-signed proof, for any token, any number of times): the one
// check every DPoP verifier must make per request, made as cheaply as Node allows (key imported
// once per client, signature decoded without checks and checked on libuv's pool like Keybound's
// default), and nothing else. No RFC 9449 resource server on this app can be faster.
function checkSignatureOnly(): (req: Request, res: Response, next: NextFunction) => void {
  const keys = new Map<string, VerifyKeyObjectInput>()
  const keyOf = (headerSegment: string): VerifyKeyObjectInput => {
    let key = keys.get(headerSegment)
    if (key === undefined) {
      const header = JSON.parse(Buffer.from(headerSegment, 'base64url').toString('utf8')) as {
        jwk: JsonWebKey
      }
      key = { key: createPublicKey({ key: header.jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }
      keys.set(headerSegment, key)
    }
    return key
  }
  return (req, res, next) => {
    const header = req.headers.dpop
    const proof = typeof header === 'string' ? header : ''
    const signed = proof.lastIndexOf('.')
    const refuse = (): void => void res.status(401).end()
    try {
      verify(
        'sha256',
        Buffer.from(proof.slice(0, signed), 'latin1'),
        keyOf(proof.slice(0, proof.indexOf('.'))),
        decodeUnchecked(proof.slice(signed + 1)),
        (error, valid) => (error === null && valid ? next() : refuse()),
      )
    } catch {
      refuse()
    }
  }
}

async function startExpress(): Promise<void> {
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  app.get('/keybound', dpop(keyboundServer(), { scopes: ['read'] }), (req, res) => {
    res.json({ ok: true, sub: req.dpop?.subject })
  })
  app.get(
    '/auth0',
    auth({
      issuer,
      audience,
      jwksUri,
      tokenSigningAlg: 'ES256',
      dpop: { enabled: true, required: true },
    }),
    requiredScopes('read'),
    (req, res) => {
      res.json({ ok: true, sub: req.auth?.payload.sub })
    },
  )
  app.get('/plain', (_req, res) => {
    res.json({ ok: true, sub: 'anonymous' })
  })
  app.get('/signature-only', checkSignatureOnly(), (_req, res) => {
    res.json({ ok: true, sub: 'anonymous' })
  })
  await new Promise<void>((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1', (error?: Error) =>
      error ? reject(error) : resolve(),
    )
    server.keepAliveTimeout = 60_000
  })
}

async function redisStore(): Promise<RedisReplayStore> {
  const store = createRedisReplayStore({
    url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    keyPrefix: `keybound:bench:${randomUUID()}:`,
  })
  // Bounded wait for the first connection: 100 × 50 ms.
  for (let attempt = 0; attempt < 100; attempt++) {
    if ('isReady' in store.client && store.client.isReady) return store
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('Redis is not reachable (set REDIS_URL)')
}

async function startFastify(): Promise<void> {
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 })
  const memory = keyboundServer()
  const redis = keyboundServer(await redisStore())
  const jwks = createRemoteJWKSet(new URL(jwksUri))

  await app.register(dpopPlugin, { resourceServer: memory })
  app.get('/keybound', { preHandler: app.dpop({ scopes: ['read'] }) }, async (request) => ({
    ok: true,
    sub: request.dpop?.subject,
  }))
  // A second resource server, same settings, Redis store: its own preHandler.
  app.get(
    '/keybound-redis',
    { preHandler: dpopPreHandler(redis, { scopes: ['read'] }) },
    async (request) => ({ ok: true, sub: request.dpop?.subject }),
  )
  // What a Bearer-only route does with jose: parse the header, verify the JWT, check the scope.
  app.get('/jose-bearer', async (request, reply) => {
    const authorization = request.headers.authorization ?? ''
    const match = /^Bearer ([\w.~+/-]+=*)$/.exec(authorization)
    if (match === null) return reply.code(401).header('www-authenticate', 'Bearer').send()
    try {
      const { payload } = await jwtVerify(match[1]!, jwks, {
        issuer,
        audience,
        algorithms: ['ES256'],
        typ: 'at+jwt',
      })
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : []
      if (!scopes.includes('read')) return reply.code(403).send()
      return { ok: true, sub: payload.sub }
    } catch {
      return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send()
    }
  })
  await app.listen({ port, host: '127.0.0.1' })
}

try {
  if (kind === 'express') await startExpress()
  else if (kind === 'fastify') await startFastify()
  else throw new Error(`unknown app kind ${String(kind)}`)
  send({ type: 'ready', port })
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  process.exit(1)
}
