/**
 * Property test (fast-check) of `GET /authorize` with attacker-controlled query strings: real
 * parameter names with valid and hostile values, repeats and raw junk, for configured clients,
 * a dynamically registered one and unknown ones. Every client mistake must be answered as a
 * client mistake: a page or a redirect, never a 5xx, never an error-level log line, never a
 * `server_error` in the metrics; and nothing is ever redirected to a registered client's own
 * redirect URI before a user signs in.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { pkce, REDIRECT, startServer, type TestServer } from './support.js'

const SEED = 20_261_207
const RUNS = 1_200
const REGISTERED_REDIRECT = 'http://127.0.0.1:7/registered'

let server: TestServer
let registeredId: string
const logLines: string[] = []

beforeAll(async () => {
  server = await startServer(
    'sqlite',
    { rateLimits: { enabled: false } },
    { logger: { level: 'info', stream: { write: (line: string) => logLines.push(line) } } },
  )
  const registered = await fetch(server.url('/register'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer initial-access-token-0123456789',
    },
    body: JSON.stringify({
      redirect_uris: [REGISTERED_REDIRECT],
      token_endpoint_auth_method: 'none',
      scope: 'read',
    }),
  })
  registeredId = ((await registered.json()) as { client_id: string }).client_id
})

afterAll(async () => {
  await server?.close()
})

const noise = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', '%', '%00', '&', '=', '+', ' ', 'a'.repeat(9000), '{"a":1}', '[]', 'a.b.c'),
)

function valuesOf(name: string): fc.Arbitrary<string> {
  const known: Record<string, fc.Arbitrary<string>> = {
    client_id: fc.constantFrom(
      'public-app',
      'third-party',
      'par-only',
      'jar-app',
      'service',
      'no-such-client',
      '__proto__',
      'REGISTERED',
    ),
    response_type: fc.constantFrom('code', 'token', 'id_token', 'code token', 'CODE'),
    redirect_uri: fc.constantFrom(REDIRECT, REGISTERED_REDIRECT, 'https://evil.example/cb'),
    code_challenge: fc.constant(pkce().challenge),
    code_challenge_method: fc.constantFrom('S256', 'plain'),
    scope: fc.constantFrom('read', 'read write', 'admin', ''),
    resource: fc.constantFrom('https://unknown.example/', 'not a uri'),
    request_uri: fc.constantFrom('urn:ietf:params:oauth:request_uri:nope', 'https://x/'),
  }
  return fc.oneof(known[name] ?? noise, noise)
}

const NAMES = [
  'client_id',
  'response_type',
  'redirect_uri',
  'code_challenge',
  'code_challenge_method',
  'scope',
  'state',
  'dpop_jkt',
  'resource',
  'request',
  'request_uri',
  'prompt',
]

const parameter = fc
  .constantFrom(...NAMES, 'x', '')
  .chain((name) => valuesOf(name).map((value) => [name, value] as const))

const query = fc.oneof(
  { weight: 4, arbitrary: fc.array(parameter, { maxLength: 9 }) },
  { weight: 1, arbitrary: fc.array(noise, { maxLength: 4 }).map((parts) => parts.join('&')) },
)

function encode(input: string | (readonly [string, string])[]): string {
  if (typeof input === 'string') return encodeURI(input).replace(/#/g, '%23')
  const params = new URLSearchParams()
  for (const [name, value] of input)
    params.append(name, name === 'client_id' && value === 'REGISTERED' ? registeredId : value)
  return params.toString()
}

it('answers every malformed /authorize query as a client mistake (no 5xx, no error log, no server_error)', async () => {
  await fc.assert(
    fc.asyncProperty(query, async (input) => {
      const answer = await server.server.app.inject({
        method: 'GET',
        url: `/authorize?${encode(input)}`,
      })
      expect(answer.statusCode).toBeLessThan(500)
      expect([200, 303, 400, 414]).toContain(answer.statusCode)
      if (answer.statusCode === 303) {
        const location = new URL(answer.headers.location as string)
        expect(`${location.origin}${location.pathname}`).toBe(REDIRECT)
        expect(location.searchParams.get('error')).not.toBeNull()
      }
    }),
    { seed: SEED, numRuns: RUNS },
  )
  const errors = logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)
  expect(errors).toEqual([])
  const metrics = await (await fetch(server.server.metricsUrl()!)).text()
  expect(metrics).toMatch(/keybound_as_errors_total\{endpoint="\/authorize"/)
  expect(metrics).not.toMatch(/error="server_error"/)
}, 120_000)

it('redirects a missing response_type or code_challenge once, without a server error', async () => {
  const before = logLines.length
  const extras: Record<string, string>[] = [{}, { response_type: 'code' }]
  for (const extra of extras) {
    const answer = await fetch(
      server.url(`/authorize?${new URLSearchParams({ client_id: 'public-app', ...extra })}`),
      { redirect: 'manual' },
    )
    expect(answer.status).toBe(303)
    const location = new URL(answer.headers.get('location')!)
    expect(location.searchParams.get('error')).toBe('invalid_request')
  }
  // The log is written after the answer; one more request orders it behind ours.
  await fetch(server.url('/healthz'))
  const logged = logLines.slice(before).map((line) => JSON.parse(line) as { level: number })
  expect(logged.filter((line) => line.level >= 50)).toEqual([])
})
