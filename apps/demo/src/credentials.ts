/**
 * The demo's credentials: user passwords, demo-service's client secret and its DPoP key. Made
 * once per data folder and kept there (owner-only files), so a second start signs the same
 * users in and the tokens and keys of the first start stay good.
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exportKeyPair, generateKeyPair } from '@keybound/core'

/** A demo user and the password to sign in with. */
export interface DemoUser {
  username: string
  password: string
}

/** Everything the banner prints and the AS is seeded with. */
export interface DemoCredentials {
  users: DemoUser[]
  serviceSecret: string
  /** demo-service's private JWK file, the `-k` of the printed `keybound curl` lines. */
  serviceKeyFile: string
}

const CREDENTIALS_FILE = 'demo-credentials.json'
const SERVICE_KEY_FILE = 'demo-service.jwk'
const USERNAMES = ['alice', 'bob']

// Letters and digits only, so a password can be typed and pasted without shell quoting.
function randomPassword(length: number): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('')
}

async function readJsonFile(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function isStored(value: unknown): value is Omit<DemoCredentials, 'serviceKeyFile'> {
  const stored = value as Partial<DemoCredentials> | undefined
  return (
    typeof stored?.serviceSecret === 'string' &&
    Array.isArray(stored.users) &&
    stored.users.every(
      (user) => typeof user?.username === 'string' && typeof user.password === 'string',
    )
  )
}

async function ensureServiceKey(path: string): Promise<void> {
  const pair = await generateKeyPair('ES256', { extractable: true })
  try {
    // 'wx': never overwrite the key that demo-service's tokens are already bound to.
    await writeFile(path, `${JSON.stringify(await exportKeyPair(pair), null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
}

/**
 * Loads the demo credentials from the data folder, making them on first start (random
 * passwords and secret, an ES256 key for demo-service), all written with mode 0600.
 * @example
 * ```ts
 * const credentials = await loadOrCreateCredentials('.keybound-data')
 * credentials.users[0] // { username: 'alice', password: '…' }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function loadOrCreateCredentials(dataDir: string): Promise<DemoCredentials> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, CREDENTIALS_FILE)
  const serviceKeyFile = join(dataDir, SERVICE_KEY_FILE)
  await ensureServiceKey(serviceKeyFile)
  const stored = await readJsonFile(file)
  if (isStored(stored)) return { ...stored, serviceKeyFile }
  const created = {
    users: USERNAMES.map((username) => ({ username, password: randomPassword(12) })),
    serviceSecret: randomPassword(32),
  }
  await writeFile(file, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600 })
  return { ...created, serviceKeyFile }
}
