/**
 * A reused authorization code revokes every token of its grant (RFC 6749 §4.1.2): the refresh
 * tokens, opaque access tokens (also of clients without refresh tokens), and JWT access tokens,
 * whose `jti`s are deny-listed until they expire so that introspection answers
 * `{"active":false}`. Tokens of other grants stay active. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  baseClients,
  basic,
  codeForm,
  DATABASES,
  Dpop,
  getCode,
  postForm,
  REDIRECT,
  SECRET,
  startServer,
  type Answer,
  type TestServer,
} from './support.js'

// A confidential client with opaque access tokens and no refresh tokens: before the fix, a
// reused code revoked nothing of its grant at all.
const OPAQUE_APP = {
  client_id: 'opaque-app',
  client_secret: SECRET,
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code'],
  scope: 'read',
  first_party: true,
  access_token_format: 'opaque',
}

describe.each(DATABASES)('a reused authorization code revokes its grant on %s', (kind) => {
  let t: TestServer
  const tokenUrl = () => t.url('/token')

  beforeAll(async () => {
    t = await startServer(kind, { clients: [...baseClients(), OPAQUE_APP] })
  })
  afterAll(async () => {
    await t?.close()
  })

  // Each client introspects its own tokens: allowed whoever else may introspect.
  async function isActive(clientId: string, token: string): Promise<boolean> {
    const answer = await postForm(t.url('/introspect'), { token }, basic(clientId))
    expect(answer.status, answer.text).toBe(200)
    return answer.body.active as boolean
  }

  async function exchange(
    dpop: Dpop,
    clientId: string,
  ): Promise<{ code: string; verifier: string; tokens: Answer }> {
    const { code, verifier } = await getCode(t.issuer, clientId)
    const tokens = await dpop.post(tokenUrl(), codeForm(clientId, code, verifier), basic(clientId))
    expect(tokens.status, tokens.text).toBe(200)
    return { code, verifier, tokens }
  }

  const reuseCode = (dpop: Dpop, clientId: string, code: string, verifier: string) =>
    dpop.post(tokenUrl(), codeForm(clientId, code, verifier), basic(clientId))

  const refresh = (dpop: Dpop, refreshToken: string) =>
    dpop.post(
      tokenUrl(),
      { grant_type: 'refresh_token', refresh_token: refreshToken },
      basic('confidential-app'),
    )

  it('JWT access tokens (also refreshed ones) are inactive and the refresh token is dead', async () => {
    const dpop = await Dpop.create()
    const { code, verifier, tokens } = await exchange(dpop, 'confidential-app')
    const refreshed = await refresh(dpop, tokens.body.refresh_token)
    expect(refreshed.status, refreshed.text).toBe(200)
    const other = await exchange(dpop, 'confidential-app')
    for (const token of [tokens.body.access_token, refreshed.body.access_token])
      expect(await isActive('confidential-app', token)).toBe(true)

    const reuse = await reuseCode(dpop, 'confidential-app', code, verifier)
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant'])
    expect(await isActive('confidential-app', tokens.body.access_token)).toBe(false)
    expect(await isActive('confidential-app', refreshed.body.access_token)).toBe(false)
    expect(await isActive('confidential-app', refreshed.body.refresh_token)).toBe(false)
    const dead = await refresh(dpop, refreshed.body.refresh_token)
    expect([dead.status, dead.body.error]).toEqual([400, 'invalid_grant'])
    // Another grant of the same client and user is untouched.
    expect(await isActive('confidential-app', other.tokens.body.access_token)).toBe(true)
    expect((await refresh(dpop, other.tokens.body.refresh_token)).status).toBe(200)
  })

  it('opaque access tokens of a client without refresh tokens are revoked too', async () => {
    const dpop = await Dpop.create()
    const { code, verifier, tokens } = await exchange(dpop, 'opaque-app')
    expect(tokens.body.access_token).toMatch(/^kbat_/)
    expect(tokens.body.refresh_token).toBeUndefined()
    const other = await exchange(dpop, 'opaque-app')
    expect(await isActive('opaque-app', tokens.body.access_token)).toBe(true)
    const reuse = await reuseCode(dpop, 'opaque-app', code, verifier)
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant'])
    expect(await isActive('opaque-app', tokens.body.access_token)).toBe(false)
    expect(await isActive('opaque-app', other.tokens.body.access_token)).toBe(true)
  })

  it('a refresh racing with the reuse: nothing of the grant stays usable', async () => {
    for (let round = 0; round < 4; round++) {
      const dpop = await Dpop.create()
      const { code, verifier, tokens } = await exchange(dpop, 'confidential-app')
      const [reuse, refreshed] = await Promise.all([
        reuseCode(dpop, 'confidential-app', code, verifier),
        refresh(dpop, tokens.body.refresh_token),
      ])
      expect(reuse.body.error).toBe('invalid_grant')
      expect(await isActive('confidential-app', tokens.body.access_token)).toBe(false)
      if (refreshed.status === 200) {
        // The refresh won the race: what it issued belongs to the grant and is revoked too.
        expect(await isActive('confidential-app', refreshed.body.access_token)).toBe(false)
        const next = await refresh(dpop, refreshed.body.refresh_token)
        expect([next.status, next.body.error]).toEqual([400, 'invalid_grant'])
      } else {
        expect(refreshed.body.error).toBe('invalid_grant')
      }
    }
  })
})
