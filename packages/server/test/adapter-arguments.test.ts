/**
 * Every adapter refuses a bad argument with core's `InvalidArgument` (D39): the same class, the
 * same code and the same message style (`<name> must be <what>`) as core, where they used to be
 * `TypeError`s worded three ways. No server is started: the checks run when the middleware,
 * plugin or listener is built.
 */
import { InvalidArgument, KeyboundError } from '@keybound/core'
import {
  createProtectedResourceMetadata,
  createResourceServer,
  jwtAccessTokens,
  type ResourceServer,
} from '@keybound/server'
import * as express from '@keybound/server/express'
import * as fastify from '@keybound/server/fastify'
import * as hono from '@keybound/server/hono'
import * as node from '@keybound/server/node'
import { describe, expect, it } from 'vitest'

const BASE = 'https://rs.example.test'
const resourceServer: ResourceServer = createResourceServer({
  publicBaseUrl: BASE,
  accessTokens: jwtAccessTokens({
    issuer: 'https://as.example.test',
    audience: BASE,
    jwksUri: 'https://as.example.test/jwks',
  }),
})
const metadata = createProtectedResourceMetadata({
  resource: BASE,
  authorizationServers: ['https://as.example.test'],
})
const notAResourceServer = {} as ResourceServer

const BAD_CALLS: { name: string; call: () => unknown; argument: string }[] = [
  {
    name: 'express dpop()',
    call: () => express.dpop(notAResourceServer),
    argument: 'resourceServer',
  },
  { name: 'hono dpop()', call: () => hono.dpop(notAResourceServer), argument: 'resourceServer' },
  {
    name: 'fastify dpopPreHandler()',
    call: () => fastify.dpopPreHandler(notAResourceServer),
    argument: 'resourceServer',
  },
  {
    name: 'fastify dpopPlugin',
    call: () =>
      fastify.dpopPlugin({} as never, { resourceServer: notAResourceServer }, () => undefined),
    argument: 'resourceServer',
  },
  {
    name: 'node protect() without a resource server',
    call: () => node.protect(notAResourceServer, () => undefined),
    argument: 'resourceServer',
  },
  {
    name: 'node protect() without a handler',
    call: () => node.protect(resourceServer, undefined as never),
    argument: 'handler',
  },
  {
    name: 'node withProtectedResourceMetadata() without a listener',
    call: () => node.withProtectedResourceMetadata(metadata, undefined as never),
    argument: 'listener',
  },
  {
    name: 'express protectedResourceMetadata() without metadata',
    call: () => express.protectedResourceMetadata({} as never),
    argument: 'metadata',
  },
  {
    name: 'hono protectedResourceMetadata() without metadata',
    call: () => hono.protectedResourceMetadata({} as never),
    argument: 'metadata',
  },
  {
    name: 'fastify serveProtectedResourceMetadata() without metadata',
    call: () => fastify.serveProtectedResourceMetadata({} as never, {} as never),
    argument: 'metadata',
  },
  {
    name: 'hono dpop() with a bad maxFormBytes',
    call: () => hono.dpop(resourceServer, { maxFormBytes: 0 } as never),
    argument: 'maxFormBytes',
  },
]

function thrownBy(call: () => unknown): unknown {
  try {
    call()
  } catch (error) {
    return error
  }
  return undefined
}

describe('D39 adapters refuse bad arguments with InvalidArgument', () => {
  it.each(BAD_CALLS)('$name', ({ call, argument }) => {
    const error = thrownBy(call)
    expect(error).toBeInstanceOf(InvalidArgument)
    expect(error).toBeInstanceOf(KeyboundError)
    expect(error).toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
      details: { argument },
      message: expect.stringMatching(new RegExp(`^${argument} must be `)),
    })
  })
})
