/**
 * Shared set-up of the verify-service tests: a service on the gateway's test config, and the
 * check requests a forward-auth proxy sends (the client's headers plus `X-Forwarded-Method` and
 * `X-Forwarded-Uri`).
 */
import { createVerifyService, type VerifyService } from '../../src/index.js'
import { createProof } from '@keybound/core'
import type { Received } from './http.js'
import type { TestIssuer } from '@keybound/test-kit/issuer'
import { PUBLIC_BASE, baseConfig, dpopHeaders, startHarness, type Harness } from './fixture.js'

export interface RunningVerify {
  readonly service: VerifyService
  readonly url: string
  /** The gRPC Check service's URL, when `verify.grpc` is set. */
  readonly grpcUrl?: string
  readonly logs: string[]
}

/** The gateway's test config without an upstream: the verify service forwards nothing. */
export function verifyConfig(issuer: TestIssuer, overrides: Record<string, unknown> = {}) {
  const { upstream: _unused, ...config } = baseConfig(issuer, { url: 'http://127.0.0.1:9' })
  return { ...config, ...overrides }
}

/** Builds and starts a verify service that logs into memory. */
export async function startVerify(
  issuer: TestIssuer,
  overrides: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<RunningVerify> {
  const logs: string[] = []
  const service = createVerifyService(verifyConfig(issuer, overrides), {
    env,
    logStream: { write: (line: string) => void logs.push(line) },
  })
  const { url, grpcUrl } = await service.listen()
  return { service, url, logs, ...(grpcUrl === undefined ? {} : { grpcUrl }) }
}

/** The headers a forward-auth proxy adds to the client's for a check of `method` `uri`. */
export function forwarded(method: string, uri: string): Array<[string, string]> {
  return [
    ['x-forwarded-method', method],
    ['x-forwarded-uri', uri],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-host', 'api.example.test'],
  ]
}

/** What a client gets: status, the RFC 9449 headers, and the body. */
export function seen(response: Received) {
  return {
    status: response.status,
    wwwAuthenticate: response.headers['www-authenticate'],
    nonce: response.headers['dpop-nonce'] === undefined ? undefined : 'present',
    cacheControl: response.headers['cache-control'],
    body: response.text,
  }
}

/** The client's headers of each denial case, built fresh for each server (proofs are one-use). */
export function denialCases(
  harness: Harness,
): Record<DenialCase, (uri: string) => Promise<Array<[string, string]>>> {
  return {
    'no credentials': async () => [],
    'missing proof': async () => [['authorization', `DPoP ${harness.token}`]],
    'proof for another token (ath)': async (uri) => {
      const other = await harness.issuer.mint({ jkt: harness.key.jkt })
      const proof = await createProof(harness.key, {
        htm: 'GET',
        htu: PUBLIC_BASE + uri,
        accessToken: other,
      })
      return [
        ['authorization', `DPoP ${harness.token}`],
        ['dpop', proof],
      ]
    },
    'proof for another URL (htu)': async () =>
      dpopHeaders(harness.key, harness.token, 'GET', '/items/999'),
    'proof for another method (htm)': async (uri) =>
      dpopHeaders(harness.key, harness.token, 'POST', uri),
    'bound token as Bearer': async () => [['authorization', `Bearer ${harness.token}`]],
    'two proofs': async (uri) => {
      const headers = await dpopHeaders(harness.key, harness.token, 'GET', uri)
      return [...headers, ['dpop', headers[1]![1]]]
    },
    'insufficient scope': async () => dpopHeaders(harness.key, harness.token, 'GET', '/admin/x'),
  }
}

/** Denials every front end must answer exactly as the gateway does. */
export const DENIAL_CASES = [
  'no credentials',
  'missing proof',
  'proof for another token (ath)',
  'proof for another URL (htu)',
  'proof for another method (htm)',
  'bound token as Bearer',
  'two proofs',
  'insufficient scope',
] as const

/** One of {@link DENIAL_CASES}. */
export type DenialCase = (typeof DENIAL_CASES)[number]

/** The path each denial case is sent to. */
export function denialPath(name: DenialCase): string {
  return name === 'insufficient scope' ? '/admin/x' : '/items/7'
}

/** The identity headers of the default config. */
export const IDENTITY = [
  'x-keybound-subject',
  'x-keybound-client-id',
  'x-keybound-scope',
  'x-keybound-jkt',
] as const

/**
 * Proves that a rotated nonce reaches the client on success: `issue` gets a fresh nonce, which
 * is used once the next one-second step has begun (the previous step's nonce is accepted and
 * replaced). `use` resolves with a result when the request was allowed; a few tries on a busy
 * machine, where the wait may overshoot into the step after.
 */
export async function withPreviousStepNonce<T>(
  issue: () => Promise<string>,
  use: (nonce: string) => Promise<T | undefined>,
): Promise<T | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const fresh = await issue()
    const step = parseInt(fresh.split('.')[0]!, 36)
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, (step + 1) * 1000 - Date.now()) + 20),
    )
    const result = await use(fresh)
    if (result !== undefined) return result
  }
  return undefined
}

/** A harness, a verify service on it, the in-process gateway as reference, the denial cases. */
export interface EdgeHarness {
  readonly harness: Harness
  readonly verify: RunningVerify
  readonly gatewayUrl: string
  readonly denials: ReturnType<typeof denialCases>
  close(): Promise<void>
}

/** Starts what the verify-service tests compare: the service and the gateway, one issuer. */
export async function startEdgeHarness(): Promise<EdgeHarness> {
  const harness = await startHarness({ clientId: 'app-1', scope: 'items:read items:write' })
  const verify = await startVerify(harness.issuer)
  const gatewayUrl = (await harness.gateway()).url
  return {
    harness,
    verify,
    gatewayUrl,
    denials: denialCases(harness),
    async close() {
      await verify.service.close()
      await harness.close()
    },
  }
}
