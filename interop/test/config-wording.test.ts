/**
 * One config kit, one wording (ADR 0050): the same bad value in the authorization server's file
 * and in the gateway's gets the same problem, word for word, from each loader. Both loaders run
 * for real on plain documents; only the paths differ, as the two files name their settings.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, parseConfig, resolveConfig } from '@keybound/authorization-server'
import { ConfigInvalid } from '@keybound/config-kit'
import { GatewayConfigError, loadGatewayConfig, resolveGatewayConfig } from '@keybound/gateway'
import { describe, expect, it } from 'vitest'

const GATEWAY_BASE = {
  publicBaseUrl: 'https://api.example',
  upstream: { url: 'http://127.0.0.1:3000' },
  tokens: {
    jwt: {
      issuer: 'https://as.example',
      audience: 'https://api.example',
      jwksUri: 'https://as.example/jwks',
    },
  },
  routes: [{ prefix: '/' }],
}

function authorizationServerIssues(document: Record<string, unknown>): readonly string[] {
  try {
    resolveConfig(document, {})
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  throw new Error('the authorization server accepted a bad config')
}

function gatewayProblems(document: Record<string, unknown>): readonly string[] {
  try {
    resolveGatewayConfig({ ...GATEWAY_BASE, ...document }, {})
  } catch (error) {
    if (error instanceof GatewayConfigError) return error.issues
    throw error
  }
  throw new Error('the gateway accepted a bad config')
}

// Each case: one bad value, where each file holds it, and the one wording both must use.
const CASES = [
  {
    bad: 'a port out of range',
    authorizationServer: { document: { metrics: { port: 70_000 } }, path: 'metrics.port' },
    gateway: { document: { listen: { port: 70_000 } }, path: 'listen.port' },
    problem: 'must be a whole number from 0 to 65535',
  },
  {
    bad: 'an http URL for Redis',
    authorizationServer: {
      document: { replay: { redisUrl: 'http://cache:6379' } },
      path: 'replay.redisUrl',
    },
    gateway: {
      document: { replay: { redis: { url: 'http://cache:6379' } } },
      path: 'replay.redis.url',
    },
    problem: 'must be an absolute redis or rediss URL',
  },
  {
    bad: 'yes for a boolean',
    authorizationServer: {
      document: { metrics: { onMainListener: 'yes' } },
      path: 'metrics.onMainListener',
    },
    gateway: { document: { trustProxy: 'yes' }, path: 'trustProxy' },
    problem: 'must be true or false',
  },
  {
    bad: 'a misspelt member',
    authorizationServer: { document: { limits: { colour: 1 } }, path: 'limits.colour' },
    gateway: { document: { limits: { colour: 1 } }, path: 'limits.colour' },
    problem: 'is not a known setting',
  },
  {
    bad: 'a reference to an unset variable',
    authorizationServer: { document: { issuer: '${UNSET_URL}' }, path: 'issuer' },
    gateway: { document: { publicBaseUrl: '${UNSET_URL}' }, path: 'publicBaseUrl' },
    problem: 'environment variable UNSET_URL is not set',
  },
  {
    bad: 'a list where an object belongs',
    authorizationServer: { document: { limits: [] }, path: 'limits' },
    gateway: { document: { limits: [] }, path: 'limits' },
    problem: 'must be an object',
  },
] as const

// The problem a loader gave for `path`, without the path: what the two must share.
function problemAt(issues: readonly string[], path: string): string | undefined {
  return issues.find((issue) => issue.startsWith(`${path}: `))?.slice(path.length + 2)
}

describe('one wording for both config files (D52)', () => {
  it.each(CASES)('$bad gets the same problem from both loaders', (entry) => {
    const fromServer = problemAt(
      authorizationServerIssues(entry.authorizationServer.document),
      entry.authorizationServer.path,
    )
    const fromGateway = problemAt(gatewayProblems(entry.gateway.document), entry.gateway.path)
    expect(fromServer).toBe(entry.problem)
    expect(fromGateway).toBe(entry.problem)
  })

  it('a file that is not YAML gets the same problem from both loaders', async () => {
    const text = 'issuer: [unclosed\n'
    const dir = await mkdtemp(join(tmpdir(), 'keybound-wording-'))
    try {
      const file = join(dir, 'gateway.yaml')
      await writeFile(file, text)
      const fromServer = (() => {
        try {
          parseConfig(text, {})
        } catch (error) {
          return (error as ConfigError).issues
        }
        return []
      })()
      const fromGateway = await loadGatewayConfig(file, {}).then(
        () => [],
        (error: GatewayConfigError) => error.issues,
      )
      expect(fromServer).toHaveLength(1)
      expect(fromServer[0]).toMatch(/^\(file\): not valid JSON or YAML: /)
      expect(fromGateway).toEqual(fromServer)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('both refusals are one error shape: ConfigInvalid with issues, each with its own code', () => {
    const bad = { listen: { port: 70_000 } }
    const errors = [
      (() => {
        try {
          resolveConfig({ metrics: { port: 70_000 } }, {})
        } catch (error) {
          return error
        }
        return undefined
      })(),
      (() => {
        try {
          resolveGatewayConfig({ ...GATEWAY_BASE, ...bad }, {})
        } catch (error) {
          return error
        }
        return undefined
      })(),
    ] as ConfigInvalid[]
    expect(errors.map((error) => error instanceof ConfigInvalid)).toEqual([true, true])
    expect(errors.map((error) => [error.code, error.reason])).toEqual([
      ['ERR_DPOP_AS_CONFIG_INVALID', 'invalid fields'],
      ['ERR_DPOP_GATEWAY_CONFIG_INVALID', 'invalid fields'],
    ])
    expect(errors[0]!.message).toBe(`invalid configuration:\n  ${errors[0]!.issues.join('\n  ')}`)
    expect(errors[1]!.message).toBe(`invalid gateway config:\n  ${errors[1]!.issues.join('\n  ')}`)
  })
})
