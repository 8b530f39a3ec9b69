/**
 * Password hashing at current guidance: PHC scrypt strings at N = 2^17 by default, weak
 * parameters refused (at hashing, at config load, and as a failed check), hashes from the
 * earlier `hash-password` (`scrypt$16384$8$1$…`) still signing in and replaced at that sign-in
 * with a hash at the current cost, which survives restarts until the config changes the hash.
 */
import { randomBytes, scryptSync } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  checkPassword,
  createAuthorizationServer,
  hashPassword,
  lintConfig,
  openDatabase,
  resolveConfig,
  verifyPassword,
  type AuthorizationServer,
} from '../src/index.js'
import {
  authorize,
  baseConfig,
  DATABASES,
  freshStorage,
  pkce,
  PASSWORD,
  REDIRECT,
} from './support.js'

// The N of every scrypt run the server makes: the real scrypt runs, the cost is written down.
const scryptRuns = vi.hoisted(() => [] as number[])
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>()
  const scrypt = (...args: Parameters<typeof crypto.scrypt>) => {
    scryptRuns.push((args[3] as { N: number }).N)
    return (crypto.scrypt as (...all: unknown[]) => void)(...args)
  }
  return { ...crypto, default: { ...crypto, scrypt }, scrypt }
})

/** A hash in the format (and at the cost) the earlier `keybound-as hash-password` wrote. */
function legacyHash(password: string, N = 16384): string {
  const salt = randomBytes(16)
  const key = scryptSync(password.normalize('NFC'), salt, 32, { N, r: 8, p: 1, maxmem: 2 ** 28 })
  return `scrypt$${N}$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`
}

describe('hashes', () => {
  it('hashes as a PHC string at N = 2^17, r = 8, p = 1 by default, and verifies it', async () => {
    const hash = await hashPassword(PASSWORD)
    expect(hash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(await verifyPassword(PASSWORD, hash)).toBe(true)
    expect(await verifyPassword('wrong', hash)).toBe(false)
  })

  it('refuses weak parameters: at hashing, at config load, and at verification', async () => {
    await expect(hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 })).rejects.toThrow(
      'scrypt N=1024 is below the minimum N=16384 (2^14)',
    )
    await expect(hashPassword(PASSWORD, { N: 2 ** 14, r: 1, p: 1 })).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID_ARGUMENT',
      message: 'cost must be an accepted scrypt cost (scrypt r=1 must be from 8 to 32)',
      details: { argument: 'cost' },
    })
    const weak = legacyHash(PASSWORD, 1024)
    expect(await verifyPassword(PASSWORD, weak)).toBe(false)
    expect(() =>
      resolveConfig(
        {
          users: [
            { username: 'a', passwordHash: weak },
            { username: 'b', passwordHash: 'plain' },
          ],
          passwords: { scryptLogN: 12 },
        },
        {},
      ),
    ).toThrow(
      expect.objectContaining({
        issues: [
          'users[0].passwordHash: scrypt N=1024 is below the minimum N=16384 (2^14): make a new one with keybound-as hash-password',
          'users[1].passwordHash: must be an scrypt hash (keybound-as hash-password)',
          'passwords.scryptLogN: must be a whole number from 14 to 20',
        ],
      }),
    )
  })

  it('an unknown user costs one scrypt run at the current cost, as a known user does', async () => {
    const cost = { N: 2 ** 15, r: 8, p: 1 }
    const known = await hashPassword(PASSWORD, cost)
    for (const [stored, current] of [
      [known, cost],
      [undefined, cost],
      [undefined, undefined],
    ] as const) {
      scryptRuns.length = 0
      expect(await checkPassword('a wrong password', stored, current)).toEqual({
        ok: false,
        needsRehash: false,
      })
      // The last run is the check itself; any before it made the unknown user's hash once.
      expect(scryptRuns.at(-1)).toBe(current?.N ?? 2 ** 17)
      expect(new Set(scryptRuns)).toEqual(new Set([current?.N ?? 2 ** 17]))
    }
  })

  it('warns at load about a hash below the current cost, naming the user entry', () => {
    const config = resolveConfig({ users: [{ username: 'a', passwordHash: legacyHash('x') }] }, {})
    expect(lintConfig(config)).toContain(
      "users[0].passwordHash: scrypt N=16384 is below the current N=131072; it is replaced at the user's next sign-in (or run keybound-as hash-password)",
    )
  })
})

describe.each(DATABASES)('upgrade at sign-in on %s', (kind) => {
  const servers: AuthorizationServer[] = []
  const cleanups: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close()
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function signIn(storage: Record<string, string>, passwordHash: string, password: string) {
    const config = {
      ...(await baseConfig({ passwords: {} })),
      users: [{ username: 'alice', passwordHash, subject: 'user-alice' }],
      storage,
    }
    const server = await createAuthorizationServer(config, { logger: false, env: {} })
    servers.push(server)
    const issuer = await server.listen()
    const result = await authorize(
      issuer,
      {
        response_type: 'code',
        client_id: 'public-app',
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      },
      { password },
    )
    await server.close()
    return result
  }

  async function storedHash(storage: Record<string, string>): Promise<string> {
    const { db } = await openDatabase(storage as { dataDir: string })
    try {
      const row = await db.selectFrom('kb_users').select('password_hash').executeTakeFirstOrThrow()
      return row.password_hash
    } finally {
      await db.destroy()
    }
  }

  it('signs in with an earlier hash-password hash and keeps a current-cost hash across restarts', async () => {
    const { storage, cleanup } = await freshStorage(kind)
    cleanups.push(cleanup)
    const old = legacyHash(PASSWORD)
    expect((await signIn(storage, old, PASSWORD)).code).toBeDefined()
    const upgraded = await storedHash(storage)
    expect(upgraded).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/)
    // A restart with the same config keeps the upgraded hash, which signs in.
    expect((await signIn(storage, old, PASSWORD)).code).toBeDefined()
    expect(await storedHash(storage)).toBe(upgraded)
    // A new hash in the config (a password change) wins over the upgrade.
    const changed = legacyHash('a new password')
    expect((await signIn(storage, changed, PASSWORD)).code).toBeUndefined()
    expect((await signIn(storage, changed, 'a new password')).code).toBeDefined()
    expect(await storedHash(storage)).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/)
    expect(await storedHash(storage)).not.toBe(upgraded)
  }, 60_000)
})
