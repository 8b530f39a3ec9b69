/**
 * Several authorization-server instances over one fresh database (the same SQLite file, or one
 * PostgreSQL schema), as a deployment behind one URL runs them, with a clock the test moves.
 * Give them one `issuer` in the overrides when they must accept each other's artefacts.
 */
import type { AddressInfo } from 'node:net'
import { ConfigError, createAuthorizationServer, resolveConfig } from '../src/index.js'
import {
  baseConfig,
  freshStorage,
  pkce,
  REDIRECT,
  type DatabaseKind,
  type TestServer,
} from './support.js'

/** A clock in milliseconds that tests move forward. */
export interface TestClock {
  now(): number
  advance(seconds: number): void
}

/** A clock that starts at the real time and moves only when told. */
export function testClock(): TestClock {
  let offset = 0
  return { now: () => Date.now() + offset, advance: (seconds) => void (offset += seconds * 1000) }
}

/** Instances sharing one database; `close` stops them all and removes the database. */
export interface Instances {
  servers: TestServer[]
  clock: TestClock
  /** Where the database is, for a connection of the test's own (`openDatabase`). */
  storage: Record<string, string>
  close(): Promise<void>
}

/** Starts `count` servers on 127.0.0.1:0 over one fresh database of `kind`. */
export async function startInstances(
  kind: DatabaseKind,
  count: number,
  overrides: Record<string, unknown> = {},
): Promise<Instances> {
  const { storage, cleanup } = await freshStorage(kind)
  const clock = testClock()
  // No periodic sweep: tests sweep when they want to (server.sweepExpiredRows()).
  const config = {
    ...(await baseConfig(overrides)),
    storage: { ...storage, sweep: { intervalSeconds: 0 } },
  }
  const servers: TestServer[] = []
  // One after the other: the first start runs the migrations and creates the signing key.
  for (let i = 0; i < count; i++) {
    const server = await createAuthorizationServer(config, {
      logger: false,
      env: {},
      now: clock.now,
    })
    const issuer = await server.listen()
    // With a configured `issuer` shared by the instances, each is still reached at its own port.
    const { port } = server.app.server.address() as AddressInfo
    servers.push({
      server,
      issuer,
      url: (path) => `http://127.0.0.1:${port}${path}`,
      close: () => server.close(),
    })
  }
  return {
    servers,
    clock,
    storage,
    close: async () => {
      await Promise.all(servers.map((server) => server.close()))
      await cleanup()
    },
  }
}

/** The members of a valid authorization request (query or request object claims) for a client. */
export function authorizationQuery(
  clientId: string,
  extra: Record<string, string | number> = {},
): Record<string, string> {
  return {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'read',
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    ...(extra as Record<string, string>),
  }
}

/** The issues a config document is refused with (it must be refused). */
export function configIssues(document: unknown): readonly string[] {
  try {
    resolveConfig(document, {})
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  throw new Error('the configuration was accepted')
}
