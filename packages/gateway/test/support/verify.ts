/**
 * Shared set-up of the verify-service tests: a service on the gateway's test config, and the
 * check requests a forward-auth proxy sends (the client's headers plus `X-Forwarded-Method` and
 * `X-Forwarded-Uri`).
 */
import { createVerifyService, type VerifyService } from '../../src/index.js'
import type { TestIssuer } from './issuer.js'
import { baseConfig } from './fixture.js'

export interface RunningVerify {
  readonly service: VerifyService
  readonly url: string
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
  const { url } = await service.listen()
  return { service, url, logs }
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
