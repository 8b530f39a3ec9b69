/**
 * User passwords, stored as scrypt hashes: `scrypt$N$r$p$salt$hash` (base64url salt and hash).
 * @see https://www.rfc-editor.org/rfc/rfc7914
 * @packageDocumentation
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const DEFAULT_COST = { N: 16384, r: 8, p: 1 }
const KEY_LENGTH = 32
const HASH_SHAPE =
  /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{43})$/

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      KEY_LENGTH,
      { ...options, maxmem: 256 * 1024 * 1024 },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    )
  })
}

/**
 * Hashes a password with scrypt and a random salt, for `users[].passwordHash`.
 * @example
 * ```ts
 * const passwordHash = await hashPassword('correct horse battery staple')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export async function hashPassword(
  password: string,
  cost: { N: number; r: number; p: number } = DEFAULT_COST,
): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, cost)
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

// A hash of a random password, checked when the user is unknown so that the answer takes as
// long as for a known user (no user enumeration through timing).
let dummyHash: Promise<string> | undefined

/**
 * Checks a password against a stored scrypt hash in constant time. An unknown user (`undefined`
 * hash) costs the same time and fails. Malformed hashes fail closed.
 * @example
 * ```ts
 * const ok = await verifyPassword(form.password, user?.passwordHash)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export async function verifyPassword(
  password: string,
  stored: string | undefined,
): Promise<boolean> {
  const hash = stored ?? (await (dummyHash ??= hashPassword(randomBytes(16).toString('hex'))))
  const match = HASH_SHAPE.exec(hash)
  if (match === null || typeof password !== 'string' || password.length > 1024) return false
  const [, n, r, p, salt, expected] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ]
  const cost = { N: Number(n), r: Number(r), p: Number(p) }
  if (cost.N < 1024 || cost.N > 1 << 20 || (cost.N & (cost.N - 1)) !== 0) return false
  let key: Buffer
  try {
    key = await derive(password, Buffer.from(salt, 'base64url'), cost)
  } catch {
    return false
  }
  return timingSafeEqual(key, Buffer.from(expected, 'base64url')) && stored !== undefined
}
