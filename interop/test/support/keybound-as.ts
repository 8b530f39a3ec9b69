/**
 * Our authorization server (@keybound/authorization-server) on 127.0.0.1:0 over a fresh SQLite
 * file, with the clients the interop suites use, and the scripted browser login through its
 * /authorize, /authorize/login pages.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthorizationServer, hashPassword } from '@keybound/authorization-server'
import { PASSWORD, REDIRECT, SECRET, testClients } from '@keybound/test-kit/as-clients'

// The same registrations as the authorization server's own suites.
export { PASSWORD, REDIRECT, SECRET }

// The lowest cost the server accepts, and the servers hash at it too (passwords.scryptLogN): a
// sign-in then costs one 16 MiB scrypt run, not a 128 MiB one.
const passwordHash = hashPassword(PASSWORD, { N: 2 ** 14, r: 8, p: 1 })

export interface KeyboundAs {
  issuer: string
  url(path: string): string
  close(): Promise<void>
}

/** Starts our AS; its JWT access tokens carry `aud` = `audience` (the resource server's URL). */
export async function startKeyboundAs(
  audience: string,
  overrides: Record<string, unknown> = {},
): Promise<KeyboundAs> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kb-interop-as-'))
  const server = await createAuthorizationServer(
    {
      accessTokens: { audience },
      passwords: { scryptLogN: 14 },
      users: [{ username: 'alice', passwordHash: await passwordHash, subject: 'user-alice' }],
      clients: testClients(),
      storage: { dataDir },
      ...overrides,
    },
    { logger: false as never, env: {} },
  )
  const issuer = await server.listen()
  return {
    issuer,
    url: (path) => `${issuer}${path}`,
    close: async () => {
      await server.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Plays the browser at our AS: GET the authorization URL, sign in as alice on the login page,
 * and return the redirect to the client (with `code`, `state`, `iss`).
 */
export async function loginAtKeyboundAs(authorizationUrl: string | URL): Promise<URL> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' })
  const html = await page.text()
  if (page.status !== 200) throw new Error(`authorization request refused: ${page.status} ${html}`)
  const interaction = /name="interaction" value="([^"]+)"/.exec(html)?.[1]
  if (interaction === undefined) throw new Error('no login form')
  const answer = await fetch(new URL('/authorize/login', authorizationUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: page.headers.get('set-cookie')?.split(';')[0] ?? '',
    },
    body: new URLSearchParams({ interaction, username: 'alice', password: PASSWORD }),
  })
  const location = answer.headers.get('location')
  await answer.body?.cancel()
  if (location === null) throw new Error(`login did not redirect: ${answer.status}`)
  return new URL(location)
}
