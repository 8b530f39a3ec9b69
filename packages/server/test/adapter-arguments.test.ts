/**
 * Every adapter refuses a bad argument with core's `InvalidArgument` (D39): the same class, the
 * same code and the same message style (`<name> must be <what>`) as core, where they used to be
 * `TypeError`s worded three ways. The server's own builders (resource server, validators, Redis
 * store) do the same; checks that collect several members' problems at once keep a list
 * instead and are not rows here. No server is started: the checks run when the middleware,
 * plugin, listener or validator is built.
 */
import { InvalidArgument, KeyboundError } from '@keybound/core'
import {
  builtInProfile,
  checkRouteOptions,
  createProtectedResourceMetadata,
  createResourceServer,
  introspectedAccessTokens,
  jwtAccessTokens,
  type AccessTokenValidator,
  type IntrospectionOptions,
  type ResourceServer,
  type ResourceServerOptions,
} from '@keybound/server'
import * as express from '@keybound/server/express'
import * as fastify from '@keybound/server/fastify'
import * as hono from '@keybound/server/hono'
import * as node from '@keybound/server/node'
import { createRedisReplayStore } from '@keybound/server/redis'
import { describe, expect, it } from 'vitest'

const BASE = 'https://rs.example.test'
const accessTokens: AccessTokenValidator = jwtAccessTokens({
  issuer: 'https://as.example.test',
  audience: BASE,
  jwksUri: 'https://as.example.test/jwks',
})
const resourceServer: ResourceServer = createResourceServer({ publicBaseUrl: BASE, accessTokens })
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

const serverWith = (options: Partial<ResourceServerOptions>) => () =>
  createResourceServer({ publicBaseUrl: BASE, accessTokens, ...options } as ResourceServerOptions)
const introspection: IntrospectionOptions = {
  endpoint: 'https://as.example.test/introspect',
  clientId: 'api',
  clientSecret: 'an-introspection-secret',
  audience: BASE,
}
const introspectionWith = (options: Record<string, unknown>) => () =>
  introspectedAccessTokens({ ...introspection, ...options } as IntrospectionOptions)

const BUILDER_CALLS: { argument: string; call: () => unknown }[] = [
  { argument: 'options', call: () => createResourceServer(undefined as never) },
  { argument: 'accessTokens', call: serverWith({ accessTokens: {} as never }) },
  { argument: 'realm', call: serverWith({ realm: 'a "quoted" realm' }) },
  { argument: 'replayStore', call: serverWith({ replayStore: {} as never }) },
  { argument: 'algorithms', call: serverWith({ algorithms: [] }) },
  { argument: 'algorithms[1]', call: serverWith({ algorithms: ['ES256', 'HS256'] as never }) },
  { argument: 'maxClockSkew', call: serverWith({ maxClockSkew: -1 }) },
  { argument: 'publicBaseUrl', call: serverWith({ publicBaseUrl: 'not a url' }) },
  { argument: 'publicBaseUrl', call: serverWith({ publicBaseUrl: 'ftp://rs.example.test' }) },
  { argument: 'publicBaseUrl', call: serverWith({ publicBaseUrl: 'http://rs.example.test' }) },
  { argument: 'publicBaseUrl', call: serverWith({ publicBaseUrl: `${BASE}/?q=1` }) },
  { argument: 'options', call: () => introspectedAccessTokens(undefined as never) },
  { argument: 'clientId', call: introspectionWith({ clientId: undefined }) },
  { argument: 'clientSecret', call: introspectionWith({ clientSecret: 7 }) },
  { argument: 'endpoint', call: introspectionWith({ endpoint: '/introspect' }) },
  { argument: 'clientAuthMethod', call: introspectionWith({ clientAuthMethod: 'mtls' }) },
  { argument: 'audience', call: introspectionWith({ audience: [] }) },
  { argument: 'negativeCacheMaxAge', call: introspectionWith({ negativeCacheMaxAge: -1 }) },
  {
    argument: 'profile.audienceForms',
    call: introspectionWith({
      profile: { ...builtInProfile('rfc9068'), introspection: true, audienceForms: () => [''] },
    }),
  },
  { argument: 'issuers', call: () => jwtAccessTokens({ issuers: [] }) },
  { argument: 'routeOptions', call: () => checkRouteOptions('scopes' as never) },
  { argument: 'options', call: () => createProtectedResourceMetadata(null as never) },
  {
    argument: 'onError',
    call: () => node.protect(resourceServer, () => undefined, { onError: 'log' as never }),
  },
  { argument: 'options', call: () => createRedisReplayStore(undefined as never) },
  { argument: 'options', call: () => createRedisReplayStore({}) },
  { argument: 'url', call: () => createRedisReplayStore({ url: 'http://127.0.0.1:6379' }) },
  {
    argument: 'keyPrefix',
    call: () => createRedisReplayStore({ client: {} as never, keyPrefix: 1 as never }),
  },
  {
    argument: 'commandTimeoutMs',
    call: () => createRedisReplayStore({ client: {} as never, commandTimeoutMs: 0 }),
  },
  { argument: 'client', call: () => createRedisReplayStore({ client: {} as never }) },
]

function thrownBy(call: () => unknown): unknown {
  try {
    call()
  } catch (error) {
    return error
  }
  return undefined
}

function expectArgumentError(call: () => unknown, argument: string): void {
  const error = thrownBy(call)
  expect(error).toBeInstanceOf(InvalidArgument)
  expect(error).toBeInstanceOf(KeyboundError)
  expect(error).toMatchObject({ code: 'ERR_DPOP_INVALID_ARGUMENT', details: { argument } })
  expect((error as Error).message.startsWith(`${argument} must be `)).toBe(true)
}

describe('D39 adapters refuse bad arguments with InvalidArgument', () => {
  it.each(BAD_CALLS)('$name', ({ call, argument }) => expectArgumentError(call, argument))
})

describe("D39 the server's builders refuse bad arguments the same way", () => {
  it.each(BUILDER_CALLS.map((row, index) => ({ ...row, index })))(
    'row $index: $argument',
    ({ call, argument }) => expectArgumentError(call, argument),
  )

  it('names resourceMetadataUrl, whose problems are listed together', () => {
    const error = thrownBy(serverWith({ resourceMetadataUrl: 'https://u:p@rs.example.test/#x' }))
    expect(error).toBeInstanceOf(InvalidArgument)
    expect(error).toMatchObject({ details: { argument: 'resourceMetadataUrl' } })
    expect((error as Error).message).toBe(
      'resourceMetadataUrl must not have a fragment; resourceMetadataUrl must not have user info',
    )
  })
})
