/**
 * One application per framework (Express, Fastify, Hono, node:http) on 127.0.0.1 with the
 * same routes (GET and POST, form bodies parsed), each protected with one set of route
 * options (optional credentials, any-of scopes, claim checks). Handlers answer `{ anonymous, subject, tenant }`, `tenant` read
 * through the typed claims (`VerifiedIdentity<TenantClaims>`).
 *
 * `startRenderingApp` starts an Express, Fastify or Hono application in the error-handler mode
 * (`rejections: 'error'`) whose own error handler renders problem+json (RFC 9457), and, with
 * `render: false`, the same without a handler of its own (the framework's default).
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type NextFunction, type Request, type Response } from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { serve } from '@hono/node-server'
import {
  RequestRejected,
  type AdapterOptions,
  type ResourceServer,
  type VerifiedIdentity,
} from '@keybound/server'
import { dpop as expressDpop, dpopIdentity as expressIdentity } from '@keybound/server/express'
import {
  dpopIdentity as fastifyIdentity,
  dpopPlugin,
  dpopPreHandler,
} from '@keybound/server/fastify'
import { dpop as honoDpop } from '@keybound/server/hono'
import { protect } from '@keybound/server/node'
import type { AdapterName } from './adapters.js'
import { closeServer, listen } from '@keybound/test-kit/net'

/** The claims the routes read, typed. */
export interface TenantClaims extends Record<string, unknown> {
  tenant?: string
  roles?: string[] | string
}

export const ERGONOMIC_ROUTES: Record<string, AdapterOptions<TenantClaims>> = {
  '/optional': { credentialsRequired: false },
  '/optional-scoped': { credentialsRequired: false, scopes: ['read'] },
  '/scopes/any': { scopes: ['admin', 'read'], scopeMatch: 'any' },
  '/scopes/all': { scopes: ['admin', 'read'] },
  '/claims/equals': { claims: { equals: { tenant: 'acme' } } },
  '/claims/includes': { claims: { includes: { roles: ['editor', 'viewer'] } } },
  '/claims/check': { claims: { check: (claims) => claims.tenant?.startsWith('ac') === true } },
  '/claims/async-check': { claims: { check: async (claims) => claims.tenant === 'acme' } },
  '/claims/throwing-check': {
    claims: {
      check: () => {
        throw new Error('the predicate broke')
      },
    },
  },
}

export interface RunningApp {
  readonly url: string
  close(): Promise<void>
}

function describeIdentity(identity: VerifiedIdentity<TenantClaims> | null | undefined): string {
  // The typed claim: `tenant` is `string | undefined` here without a cast.
  const tenant: string | undefined = identity?.claims.tenant
  return JSON.stringify({
    anonymous: identity === undefined || identity === null,
    subject: identity?.subject ?? null,
    tenant: tenant ?? null,
  })
}

async function startExpress(resourceServer: ResourceServer): Promise<RunningApp> {
  const app = express()
  app.use(express.urlencoded({ extended: false }))
  for (const [path, options] of Object.entries(ERGONOMIC_ROUTES)) {
    app.all(path, expressDpop<TenantClaims>(resourceServer, options), (req, res) => {
      res.type('json').send(describeIdentity(expressIdentity<TenantClaims>(req)))
    })
  }
  return listen(createServer(app))
}

async function startFastify(resourceServer: ResourceServer): Promise<RunningApp> {
  const app = Fastify()
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )
  await app.register(dpopPlugin, { resourceServer })
  for (const [index, [path, options]] of Object.entries(ERGONOMIC_ROUTES).entries()) {
    // The plugin's bound factory on half the routes, the standalone one on the others.
    const preHandler =
      index % 2 === 0
        ? app.dpop<TenantClaims>(options)
        : dpopPreHandler<TenantClaims>(resourceServer, options)
    app.route({
      method: ['GET', 'POST'],
      url: path,
      preHandler,
      handler: async (request, reply) =>
        reply
          .type('application/json')
          .send(describeIdentity(fastifyIdentity<TenantClaims>(request))),
    })
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
}

async function serveHono(app: { fetch: Hono['fetch'] }): Promise<RunningApp> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started),
    )
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => closeServer(server as unknown as import('node:http').Server),
  }
}

async function startHono(resourceServer: ResourceServer): Promise<RunningApp> {
  const app = new Hono()
  for (const [path, options] of Object.entries(ERGONOMIC_ROUTES)) {
    app.on(['GET', 'POST'], path, honoDpop<TenantClaims, boolean>(resourceServer, options), (c) =>
      c.body(describeIdentity(c.get('dpop')), 200, { 'Content-Type': 'application/json' }),
    )
  }
  return serveHono(app)
}

async function startNode(resourceServer: ResourceServer): Promise<RunningApp> {
  const routes = new Map<string, ReturnType<typeof protect>>()
  for (const [path, options] of Object.entries(ERGONOMIC_ROUTES)) {
    const respond = (
      _req: unknown,
      res: ServerResponse,
      identity: VerifiedIdentity<TenantClaims> | undefined,
    ) => {
      res.setHeader('Content-Type', 'application/json')
      res.end(describeIdentity(identity))
    }
    routes.set(path, protect<TenantClaims, boolean>(resourceServer, respond, options))
  }
  const server = createServer((req, res) => {
    const route = routes.get((req.url ?? '').split('?', 1)[0]!)
    if (route === undefined) {
      res.statusCode = 404
      res.end()
      return
    }
    route(req, res)
  })
  return listen(server)
}

/** Starts one framework's application with the ergonomic routes. */
export function startErgonomicApp(
  name: AdapterName,
  resourceServer: ResourceServer,
): Promise<RunningApp> {
  switch (name) {
    case 'express':
      return startExpress(resourceServer)
    case 'fastify':
      return startFastify(resourceServer)
    case 'hono':
      return startHono(resourceServer)
    case 'node':
      return startNode(resourceServer)
  }
}

export type RenderingFramework = 'express' | 'fastify' | 'hono'
export const RENDERING_FRAMEWORKS: readonly RenderingFramework[] = ['express', 'fastify', 'hono']

/**
 * Routes of the rendering applications: `/error/read` and `/error/admin` hand rejections to
 * the framework (`rejections: 'error'`), `/default/read` keeps the default (sends them itself).
 */
export const RENDERING_ROUTES: Record<string, AdapterOptions> = {
  '/error/read': { scopes: ['read'], rejections: 'error' },
  '/error/admin': { scopes: ['admin'], rejections: 'error' },
  '/default/read': { scopes: ['read'] },
}

/** The problem+json document (RFC 9457) an application makes of a rejection. */
function problemOf(error: RequestRejected): string {
  return JSON.stringify({
    type: 'about:blank',
    title: error.message,
    status: error.status,
    // The RFC code, and the stable reason, for the application's own clients and logs.
    oauthError: error.body?.error ?? null,
    reason: error.reason ?? null,
  })
}

async function startRenderingExpress(
  resourceServer: ResourceServer,
  render: boolean,
): Promise<RunningApp> {
  const app = express()
  for (const [path, options] of Object.entries(RENDERING_ROUTES))
    app.get(path, expressDpop(resourceServer, options), (_req, res) => void res.send('ok'))
  if (render) {
    app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (!(error instanceof RequestRejected)) return next(error)
      res.status(error.status).set(error.headers).type('application/problem+json')
      res.send(problemOf(error))
    })
  }
  return listen(createServer(app))
}

async function startRenderingFastify(
  resourceServer: ResourceServer,
  render: boolean,
): Promise<RunningApp> {
  const app = Fastify()
  if (render) {
    app.setErrorHandler(async (error, _request, reply) => {
      if (!(error instanceof RequestRejected)) throw error
      return reply
        .code(error.statusCode)
        .headers(error.headers)
        .type('application/problem+json')
        .send(problemOf(error))
    })
  }
  for (const [path, options] of Object.entries(RENDERING_ROUTES))
    app.get(path, { preHandler: dpopPreHandler(resourceServer, options) }, async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
}

async function startRenderingHono(
  resourceServer: ResourceServer,
  render: boolean,
): Promise<RunningApp> {
  const app = new Hono()
  for (const [path, options] of Object.entries(RENDERING_ROUTES))
    app.get(path, honoDpop(resourceServer, options), (c) => c.text('ok'))
  if (render) {
    app.onError((error, c) => {
      if (!(error instanceof HTTPException) || !(error.cause instanceof RequestRejected))
        throw error
      const rejected = error.cause
      return c.body(problemOf(rejected), rejected.status, {
        ...rejected.headers,
        'Content-Type': 'application/problem+json',
      })
    })
  }
  return serveHono(app)
}

/** Starts an application in the error-handler mode, rendering problem+json or not. */
export function startRenderingApp(
  name: RenderingFramework,
  resourceServer: ResourceServer,
  render: boolean,
): Promise<RunningApp> {
  switch (name) {
    case 'express':
      return startRenderingExpress(resourceServer, render)
    case 'fastify':
      return startRenderingFastify(resourceServer, render)
    case 'hono':
      return startRenderingHono(resourceServer, render)
  }
}
