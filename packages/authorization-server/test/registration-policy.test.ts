/**
 * Dynamic registration (RFC 7591) under the operator's policy: registrable scopes come from
 * `registration.allowedScopes`, `client_credentials` only with `allowClientCredentials`, and
 * authorization errors reach a registered client's redirect URI before sign-in only when that
 * URI is https on a host of `registration.trustedRedirectHosts` (no open redirector).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/index.js'
import { basic, Dpop, REDIRECT, startServer, type TestServer } from './support.js'

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

async function register(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const answer = await fetch(server!.url('/register'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer initial-access-token-0123456789',
    },
    body: JSON.stringify(body),
  })
  return { status: answer.status, body: await answer.json() }
}

function registration(policy: Record<string, unknown>): Record<string, unknown> {
  return { registration: { initialAccessToken: 'initial-access-token-0123456789', ...policy } }
}

describe('registrable scopes and grants', () => {
  it('refuses a registration that grants itself scopes or client_credentials by default', async () => {
    server = await startServer('sqlite', registration({}))
    const selfGranted = await register({
      grant_types: ['client_credentials'],
      scope: 'admin billing:all',
    })
    expect([selfGranted.status, selfGranted.body.error]).toEqual([400, 'invalid_client_metadata'])
    expect(selfGranted.body.error_description).toMatch(/^scope: .*admin billing:all/)
    const noScope = await register({ grant_types: ['client_credentials'] })
    expect([noScope.status, noScope.body.error]).toEqual([400, 'invalid_client_metadata'])
    expect(noScope.body.error_description).toMatch(/^grant_types: client_credentials/)
  })

  it('accepts only allow-listed scopes, and client_credentials when the operator allows it', async () => {
    server = await startServer(
      'sqlite',
      registration({ allowedScopes: ['read'], allowClientCredentials: true }),
    )
    const tooMuch = await register({ grant_types: ['client_credentials'], scope: 'read write' })
    expect([tooMuch.status, tooMuch.body.error]).toEqual([400, 'invalid_client_metadata'])
    expect(tooMuch.body.error_description).toBe('scope: not allowed for registered clients: write')
    const created = await register({ grant_types: ['client_credentials'], scope: 'read' })
    expect(created.status).toBe(201)
    const dpop = await Dpop.create()
    const token = await dpop.post(
      server.url('/token'),
      { grant_type: 'client_credentials' },
      basic(created.body.client_id, created.body.client_secret),
    )
    expect([token.status, token.body.scope]).toEqual([200, 'read'])
  })

  it('names every bad registration policy field', () => {
    expect(() =>
      resolveConfig(
        registration({
          allowedScopes: ['ok', 'bad"scope', 3],
          allowClientCredentials: 'yes',
          trustedRedirectHosts: 'app.example',
          redirectHosts: [],
        }),
        {},
      ),
    ).toThrow(
      expect.objectContaining({
        issues: [
          'registration.redirectHosts: is not a known setting',
          'registration.allowedScopes[1]: must be a scope token (RFC 6749 §3.3)',
          'registration.allowedScopes[2]: must be a scope token (RFC 6749 §3.3)',
          'registration.allowClientCredentials: must be true or false',
          'registration.trustedRedirectHosts: must be an array',
        ],
      }),
    )
  })
})

describe('errors at the redirect URI of a registered client', () => {
  async function authorizeQuery(query: Record<string, string>) {
    const answer = await fetch(server!.url(`/authorize?${new URLSearchParams(query)}`), {
      redirect: 'manual',
    })
    return {
      status: answer.status,
      location: answer.headers.get('location'),
      page: await answer.text(),
    }
  }

  // Registers a public client with one redirect URI and sends it an unsupported response type.
  async function registerAndAuthorize(redirectUri: string) {
    const created = await register({
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
    })
    expect(created.status).toBe(201)
    return authorizeQuery({
      client_id: created.body.client_id,
      response_type: 'token',
      state: 's-1',
    })
  }

  it('shows the error instead of redirecting to a registrant-chosen URI', async () => {
    server = await startServer('sqlite', registration({}))
    const answer = await registerAndAuthorize('http://127.0.0.1:7/landing')
    expect([answer.status, answer.location]).toEqual([400, null])
    expect(answer.page).toContain('unsupported_response_type')
    // A configured client's redirect URI is the operator's: its errors still go back to it.
    const configured = await authorizeQuery({ client_id: 'public-app', response_type: 'token' })
    expect(configured.status).toBe(303)
    expect(new URL(configured.location!).searchParams.get('error')).toBe(
      'unsupported_response_type',
    )
    expect(configured.location!.startsWith(REDIRECT)).toBe(true)
  })

  it('with trustedRedirectHosts: only https URIs on those hosts register, and get errors redirected', async () => {
    server = await startServer('sqlite', registration({ trustedRedirectHosts: ['app.example'] }))
    for (const uri of [
      'http://127.0.0.1:7/landing',
      'https://evil.example/cb',
      'https://app.example.evil.example/cb',
    ]) {
      const refused = await register({ redirect_uris: [uri], token_endpoint_auth_method: 'none' })
      expect([refused.status, refused.body.error]).toEqual([400, 'invalid_redirect_uri'])
      expect(refused.body.error_description).toBe(
        'redirect_uris[0]: must be https on a host of registration.trustedRedirectHosts',
      )
    }
    const answer = await registerAndAuthorize('https://app.example/cb')
    expect(answer.status).toBe(303)
    const location = new URL(answer.location!)
    expect(`${location.origin}${location.pathname}`).toBe('https://app.example/cb')
    expect(location.searchParams.get('error')).toBe('unsupported_response_type')
    expect(location.searchParams.get('state')).toBe('s-1')
  })
})
