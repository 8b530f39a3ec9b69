/**
 * One set of client-metadata rules (clients/metadata.ts) for the config file's `clients[]` and
 * for dynamic registration, with one difference RFC 7591 §2 asks for: the config file refuses a
 * member it does not know (a typo there would silently change a client), while `/register`
 * ignores unknown members, which a client may send from a newer specification.
 * A real server on loopback with SQLite, as the other registration tests use.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, resolveConfig } from '../src/index.js'
import { startServer, type TestServer } from './support.js'

const INITIAL_ACCESS_TOKEN = 'initial-access-token-0123456789'
const METADATA = {
  redirect_uris: ['https://app.example.com/cb'],
  token_endpoint_auth_method: 'none',
  dpop_bound_access_tokens: true,
}
const UNKNOWN = { logo_uri: 'https://app.example.com/logo.png', software_id: 'app-1.2' }

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

describe('client metadata, config and registration', () => {
  it('D48 — the config file refuses an unknown client member, naming it', () => {
    let issues: readonly string[] = []
    try {
      resolveConfig({ clients: [{ client_id: 'app', ...METADATA, ...UNKNOWN }] }, {})
    } catch (error) {
      if (error instanceof ConfigError) issues = error.issues
    }
    expect(issues).toEqual([
      'clients[0].logo_uri: is not a known setting',
      'clients[0].software_id: is not a known setting',
    ])
  })

  it('D48 — /register ignores unknown members (RFC 7591 §2) and checks the known ones', async () => {
    server = await startServer('sqlite', {
      registration: { initialAccessToken: INITIAL_ACCESS_TOKEN },
    })
    const register = async (body: Record<string, unknown>) => {
      const answer = await fetch(server!.url('/register'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${INITIAL_ACCESS_TOKEN}`,
        },
        body: JSON.stringify(body),
      })
      return { status: answer.status, body: (await answer.json()) as Record<string, unknown> }
    }
    const accepted = await register({ ...METADATA, ...UNKNOWN })
    expect(accepted.status).toBe(201)
    expect(accepted.body).toMatchObject(METADATA)
    expect(accepted.body).not.toHaveProperty('logo_uri')
    expect(accepted.body).not.toHaveProperty('software_id')
    const refused = await register({ ...UNKNOWN, redirect_uris: ['http://app.example.com/cb'] })
    expect([refused.status, refused.body.error]).toEqual([400, 'invalid_redirect_uri'])
  })
})
