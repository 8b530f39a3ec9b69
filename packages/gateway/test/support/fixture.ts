/**
 * Shared set-up of the gateway tests: a config in front of a test upstream and issuer, DPoP
 * headers for a request, and a log sink to check what the gateway writes.
 */
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  createGateway,
  GatewayConfigError,
  resolveGatewayConfig,
  type Gateway,
  type GatewayOptions,
} from '../../src/index.js'
import {
  startTestIssuer,
  type MintOptions,
  type TestIssuer,
  type TestIssuerOptions,
} from '@keybound/test-kit/issuer'
import { startUpstream, type TestUpstream } from './upstream.js'

/** What clients call; `htu` is built from it, whatever loopback port the gateway has. */
export const PUBLIC_BASE = 'https://api.example.test'

/** The `aud` of the gateway's tokens: the public base URL. */
export const AUDIENCE = PUBLIC_BASE

/** The gateway tests' issuer: tokens for {@link AUDIENCE}, with the scope most routes ask. */
export const ISSUER: TestIssuerOptions = { audience: AUDIENCE, scope: 'items:read' }

/** A config object in the file's shape. */
export function baseConfig(
  issuer: TestIssuer,
  upstream: { url: string },
  overrides: Record<string, unknown> = {},
) {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    publicBaseUrl: PUBLIC_BASE,
    upstream: { url: upstream.url, timeoutMs: 2_000 },
    tokens: { jwt: { issuer: issuer.issuer, audience: AUDIENCE, jwksUri: issuer.jwksUri } },
    algorithms: ['ES256'],
    routes: [
      { path: '/public/*', methods: ['GET'], public: true },
      { path: '/items/:id', methods: ['GET', 'DELETE'], scopes: ['items:read'] },
      { prefix: '/items', scopes: ['items:read'] },
      { path: '/admin/*', scopes: ['admin'] },
      { path: '/upload', methods: ['POST', 'PUT'], scopes: ['items:write'] },
      { path: '/slow', scopes: ['items:read'] },
      { path: '/stream', scopes: ['items:read'] },
      { path: '/flood', scopes: ['items:read'] },
      { path: '/hop', scopes: ['items:read'] },
    ],
    log: { level: 'info' },
    shutdownTimeoutMs: 5_000,
    ...overrides,
  }
}

/** The problems the config loader names for `input` (none when it is valid). */
export function configProblems(input: object): readonly string[] {
  try {
    resolveGatewayConfig(input, {})
    return []
  } catch (error) {
    if (error instanceof GatewayConfigError) return error.issues
    throw error
  }
}

export interface RunningGateway {
  readonly gateway: Gateway
  readonly url: string
  /** The admin listener's URL, when the config has `admin.listen`. */
  readonly adminUrl: string | undefined
  /** Every log line the gateway wrote. */
  readonly logs: string[]
}

/** Builds and starts a gateway that logs into memory. */
export async function startGateway(
  config: object,
  options: GatewayOptions = {},
): Promise<RunningGateway> {
  const logs: string[] = []
  const gateway = createGateway(config, {
    logStream: { write: (line: string) => void logs.push(line) },
    ...options,
  })
  const { url, adminUrl } = await gateway.listen()
  return { gateway, url, adminUrl, logs }
}

/** A fresh ES256 client key. */
export function clientKey(): Promise<DPoPKeyPair> {
  return generateKeyPair('ES256')
}

/** `Authorization: DPoP <token>` and a fresh proof for `method` + the public URL of `path`. */
export async function dpopHeaders(
  key: DPoPKeyPair,
  token: string,
  method: string,
  path: string,
  extra: Array<[string, string]> = [],
): Promise<Array<[string, string]>> {
  const proof = await createProof(key, { htm: method, htu: PUBLIC_BASE + path, accessToken: token })
  return [['authorization', `DPoP ${token}`], ['dpop', proof], ...extra]
}

/** An issuer, a recording upstream, a client key with its token, and the gateways started. */
export interface Harness {
  readonly issuer: TestIssuer
  readonly upstream: TestUpstream
  readonly key: DPoPKeyPair
  /** A token bound to `key`, with the claims given to {@link startHarness}. */
  readonly token: string
  /** Starts a gateway on {@link baseConfig} with `overrides`; `close()` stops it. */
  gateway(overrides?: Record<string, unknown>, options?: GatewayOptions): Promise<RunningGateway>
  /** Stops every gateway started, the upstream and the issuer. */
  close(): Promise<void>
}

/** Starts what a gateway test file needs around the gateways it builds. */
export async function startHarness(claims: MintOptions = {}): Promise<Harness> {
  const [issuer, upstream, key] = await Promise.all([
    startTestIssuer(ISSUER),
    startUpstream(),
    clientKey(),
  ])
  const token = await issuer.mint({ ...claims, jkt: key.jkt })
  const started: RunningGateway[] = []
  return {
    issuer,
    upstream,
    key,
    token,
    async gateway(overrides = {}, options = {}) {
      const running = await startGateway(baseConfig(issuer, upstream, overrides), options)
      started.push(running)
      return running
    },
    async close() {
      for (const running of started) await running.gateway.close()
      await upstream.close()
      await issuer.close()
    },
  }
}
