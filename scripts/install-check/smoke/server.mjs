// @keybound/server's adapters from the tarball, each on a real loopback server with the
// framework versions this project installed: 200 with a valid token and proof, 401 with the DPoP
// challenge without credentials. Usage: node server.mjs express fastify hono node
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as core from '@keybound/core'
import * as server from '@keybound/server'
import {
  check,
  createSmokeResourceServer,
  expectAccepted,
  expectChallenged,
  finish,
  listenOnLoopback,
  serveFetchHandler,
} from './lib.mjs'

/** The installed version of a package, read from the package.json above its entry file. */
function versionOf(name) {
  for (let dir = dirname(fileURLToPath(import.meta.resolve(name))); ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      if (manifest.name === name) return manifest.version
    } catch {
      // no package.json here: go up
    }
    if (dirname(dir) === dir) return 'unknown'
  }
}

/** One app per adapter, each answering GET /notes for the verified subject. */
const apps = {
  async express(resourceServer) {
    const { default: express } = await import('express')
    const { dpop } = await import('@keybound/server/express')
    const app = express()
    app.get('/notes', dpop(resourceServer, { scopes: ['notes:read'] }), (req, res) => {
      res.json({ subject: req.dpop.subject })
    })
    return { version: versionOf('express'), listen: () => listenOnLoopback(createServer(app)) }
  },
  async fastify(resourceServer) {
    const { default: Fastify } = await import('fastify')
    const { dpopPlugin } = await import('@keybound/server/fastify')
    const app = Fastify()
    await app.register(dpopPlugin, { resourceServer })
    app.get('/notes', { preHandler: app.dpop({ scopes: ['notes:read'] }) }, async (request) => ({
      subject: request.dpop.subject,
    }))
    return {
      version: versionOf('fastify'),
      async listen() {
        await app.listen({ port: 0, host: '127.0.0.1' })
        return { origin: `http://127.0.0.1:${app.server.address().port}`, close: () => app.close() }
      },
    }
  },
  async hono(resourceServer) {
    const { Hono } = await import('hono')
    const { dpop } = await import('@keybound/server/hono')
    const app = new Hono()
    app.get('/notes', dpop(resourceServer, { scopes: ['notes:read'] }), (c) =>
      c.json({ subject: c.get('dpop').subject }),
    )
    return {
      version: versionOf('hono'),
      listen: () => listenOnLoopback(serveFetchHandler((request) => app.fetch(request))),
    }
  },
  async node(resourceServer) {
    const { protect } = await import('@keybound/server/node')
    const listener = protect(
      resourceServer,
      (req, res, identity) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ subject: identity.subject }))
      },
      { scopes: ['notes:read'] },
    )
    return {
      version: process.versions.node,
      listen: () => listenOnLoopback(createServer(listener)),
    }
  },
}

for (const adapter of process.argv.slice(2)) {
  const { tokens, resourceServer } = await createSmokeResourceServer(server)
  let app
  await check(`server: @keybound/server/${adapter} loads`, async () => {
    app = await apps[adapter](resourceServer)
  })
  if (app === undefined) continue
  const { origin, close } = await app.listen()
  try {
    await check(`server: ${adapter} ${app.version} answers 200 to a valid DPoP request`, () =>
      expectAccepted(core, tokens, origin),
    )
    await check(`server: ${adapter} ${app.version} answers 401 with the DPoP challenge`, () =>
      expectChallenged(origin),
    )
  } finally {
    await close()
  }
}

finish()
