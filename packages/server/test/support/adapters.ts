/**
 * Starts each adapter on 127.0.0.1 with the same routes, so that one conformance suite runs
 * against all four. Every resource server gets a path prefix:
 *   GET  /<prefix>/resource  -> 200 { identity }
 *   POST /<prefix>/resource  -> 200, and counts a side effect (it must never run when rejected)
 *   GET  /<prefix>/scoped    -> requires scopes `read write`
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import type { ResourceServer, VerifiedIdentity } from '@keybound/server'
import { dpop as expressDpop } from '@keybound/server/express'
import { dpopPlugin, dpopPreHandler } from '@keybound/server/fastify'
import { dpop as honoDpop, type DPoPEnv } from '@keybound/server/hono'
import { protect } from '@keybound/server/node'
import { listen } from '@keybound/test-kit/net'

export type AdapterName = 'express' | 'fastify' | 'hono' | 'node'
export const ADAPTERS: readonly AdapterName[] = ['express', 'fastify', 'hono', 'node']

export const SCOPED = ['read', 'write'] as const

export interface RunningAdapter {
  readonly url: string
  /** POST handler runs, per prefix. */
  readonly effects: Map<string, number>
  close(): Promise<void>
}

type Servers = Record<string, ResourceServer>

function countEffect(effects: Map<string, number>, prefix: string): void {
  effects.set(prefix, (effects.get(prefix) ?? 0) + 1)
}

function reply(identity: VerifiedIdentity | null | undefined): string {
  return JSON.stringify({ identity })
}

async function startExpress(
  servers: Servers,
  effects: Map<string, number>,
): Promise<RunningAdapter> {
  const app = express()
  app.use(express.urlencoded({ extended: false }))
  for (const [prefix, resourceServer] of Object.entries(servers)) {
    app.get(
      `/${prefix}/resource`,
      expressDpop(resourceServer),
      (req, res) => void res.type('json').send(reply(req.dpop)),
    )
    app.post(`/${prefix}/resource`, expressDpop(resourceServer), (req, res) => {
      countEffect(effects, prefix)
      res.type('json').send(reply(req.dpop))
    })
    app.get(
      `/${prefix}/scoped`,
      expressDpop(resourceServer, { scopes: SCOPED }),
      (req, res) => void res.type('json').send(reply(req.dpop)),
    )
  }
  const { url, close } = await listen(createServer(app))
  return { url, effects, close }
}

async function startFastify(
  servers: Servers,
  effects: Map<string, number>,
): Promise<RunningAdapter> {
  const app = Fastify()
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    },
  )
  const entries = Object.entries(servers)
  // The plugin (with its bound preHandler factory) for the first server, the standalone factory for the rest.
  await app.register(dpopPlugin, { resourceServer: entries[0]![1] })
  for (const [index, [prefix, resourceServer]] of entries.entries()) {
    const preHandler = (scopes?: readonly string[]) =>
      index === 0
        ? app.dpop(scopes ? { scopes } : {})
        : dpopPreHandler(resourceServer, scopes ? { scopes } : {})
    app.get(`/${prefix}/resource`, { preHandler: preHandler() }, async (request, res) =>
      res.type('application/json').send(reply(request.dpop)),
    )
    app.post(`/${prefix}/resource`, { preHandler: preHandler() }, async (request, res) => {
      countEffect(effects, prefix)
      return res.type('application/json').send(reply(request.dpop))
    })
    app.get(`/${prefix}/scoped`, { preHandler: preHandler(SCOPED) }, async (request, res) =>
      res.type('application/json').send(reply(request.dpop)),
    )
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, effects, close: () => app.close() }
}

async function startHono(servers: Servers, effects: Map<string, number>): Promise<RunningAdapter> {
  const app = new Hono<DPoPEnv>()
  for (const [prefix, resourceServer] of Object.entries(servers)) {
    app.get(`/${prefix}/resource`, honoDpop(resourceServer), (c) =>
      c.body(reply(c.get('dpop')), 200, { 'Content-Type': 'application/json' }),
    )
    app.post(`/${prefix}/resource`, honoDpop(resourceServer), (c) => {
      countEffect(effects, prefix)
      return c.body(reply(c.get('dpop')), 200, { 'Content-Type': 'application/json' })
    })
    app.get(`/${prefix}/scoped`, honoDpop(resourceServer, { scopes: SCOPED }), (c) =>
      c.body(reply(c.get('dpop')), 200, { 'Content-Type': 'application/json' }),
    )
  }
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started),
    )
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    effects,
    close: () =>
      new Promise<void>((resolve) => {
        ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

async function startNode(servers: Servers, effects: Map<string, number>): Promise<RunningAdapter> {
  const routes = new Map<string, ReturnType<typeof protect>>()
  for (const [prefix, resourceServer] of Object.entries(servers)) {
    const respond = (
      _req: unknown,
      res: import('node:http').ServerResponse,
      identity: VerifiedIdentity,
    ) => {
      res.setHeader('Content-Type', 'application/json')
      res.end(reply(identity))
    }
    routes.set(`GET /${prefix}/resource`, protect(resourceServer, respond))
    routes.set(
      `POST /${prefix}/resource`,
      protect(resourceServer, (req, res, identity) => {
        countEffect(effects, prefix)
        respond(req, res, identity)
      }),
    )
    routes.set(`GET /${prefix}/scoped`, protect(resourceServer, respond, { scopes: SCOPED }))
  }
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0]
    const route = routes.get(`${req.method} ${path}`)
    if (route === undefined) {
      res.statusCode = 404
      res.end()
      return
    }
    route(req, res)
  })
  const { url, close } = await listen(server)
  return { url, effects, close }
}

/** Starts one adapter with the given resource servers, each under its prefix. */
export function startAdapter(name: AdapterName, servers: Servers): Promise<RunningAdapter> {
  const effects = new Map<string, number>()
  switch (name) {
    case 'express':
      return startExpress(servers, effects)
    case 'fastify':
      return startFastify(servers, effects)
    case 'hono':
      return startHono(servers, effects)
    case 'node':
      return startNode(servers, effects)
  }
}
