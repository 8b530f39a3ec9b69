/**
 * User passwords, stored as scrypt hashes in the PHC string format:
 * `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (unpadded standard base64). The current cost follows
 * OWASP's password storage guidance for scrypt: N = 2^17, r = 8, p = 1 (`passwords.scryptLogN`
 * may set another N from 2^14 up). node:crypto has no Argon2id on Node 20, so scrypt it is.
 *
 * Hashes made by earlier versions (`scrypt$N$r$p$salt$hash`, N = 2^14) are still accepted; a
 * hash below the current cost is replaced at the user's next sign-in (password-upgrades.ts).
 * Anything weaker than N = 2^14, r = 8 is refused: at config load, and as a failed check.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7914
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#scrypt
 * @see https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md
 * @packageDocumentation
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { invalidArgument } from '@keybound/core/internal'

/** scrypt cost parameters (RFC 7914 §2): CPU/memory cost N, block size r, parallelism p. */
export interface ScryptCost {
  N: number
  r: number
  p: number
}

/** log2 of the default N: OWASP's N = 2^17 with r = 8, p = 1. */
export const DEFAULT_SCRYPT_LOG_N = 17
/** log2 of the smallest N accepted anywhere (what `hash-password` made before, N = 2^14). */
export const MIN_SCRYPT_LOG_N = 14
/** log2 of the largest N accepted (1 GiB of memory at r = 8 would be a denial of service). */
export const MAX_SCRYPT_LOG_N = 20
const MIN_BLOCK_SIZE = 8
const MAX_BLOCK_SIZE = 32
const MAX_PARALLELISM = 16
// scrypt needs 128·N·r bytes; the largest accepted cost stays under this.
const MAX_MEMORY = 1.25 * 1024 ** 3
const KEY_LENGTH = 32
const SALT_LENGTH = 16

const PHC_SHAPE =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{22,86})\$([A-Za-z0-9+/]{43})$/
const LEGACY_SHAPE =
  /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{43})$/

/** A parsed stored hash. */
interface StoredHash {
  cost: ScryptCost
  salt: Buffer
  key: Buffer
}

/**
 * The default cost with N = 2^`logN`.
 * @example
 * ```ts
 * scryptCost(17) // { N: 131072, r: 8, p: 1 }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export function scryptCost(logN: number = DEFAULT_SCRYPT_LOG_N): ScryptCost {
  return { N: 2 ** logN, r: 8, p: 1 }
}

/**
 * Why a cost is refused (too weak, too expensive, N not a power of two), or `undefined`.
 * @example
 * ```ts
 * weakCostProblem({ N: 1024, r: 8, p: 1 }) // 'scrypt N=1024 is below the minimum N=16384 (2^14)'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export function weakCostProblem(cost: ScryptCost): string | undefined {
  const { N, r, p } = cost
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0)
    return `scrypt N=${N} is not a power of two`
  if (N < 2 ** MIN_SCRYPT_LOG_N)
    return `scrypt N=${N} is below the minimum N=${2 ** MIN_SCRYPT_LOG_N} (2^${MIN_SCRYPT_LOG_N})`
  if (N > 2 ** MAX_SCRYPT_LOG_N)
    return `scrypt N=${N} is above the maximum N=${2 ** MAX_SCRYPT_LOG_N}`
  if (!Number.isInteger(r) || r < MIN_BLOCK_SIZE || r > MAX_BLOCK_SIZE)
    return `scrypt r=${r} must be from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`
  if (!Number.isInteger(p) || p < 1 || p > MAX_PARALLELISM)
    return `scrypt p=${p} must be from 1 to ${MAX_PARALLELISM}`
  if (128 * N * r > MAX_MEMORY) return `scrypt N=${N}, r=${r} needs more than 1.25 GiB`
  return undefined
}

function parseStoredHash(stored: string): StoredHash | undefined {
  const phc = PHC_SHAPE.exec(stored)
  if (phc !== null) {
    const [, ln, r, p, salt, key] = phc as unknown as string[]
    return {
      cost: { N: 2 ** Number(ln), r: Number(r), p: Number(p) },
      salt: Buffer.from(salt!, 'base64'),
      key: Buffer.from(key!, 'base64'),
    }
  }
  const legacy = LEGACY_SHAPE.exec(stored)
  if (legacy === null) return undefined
  const [, N, r, p, salt, key] = legacy as unknown as string[]
  return {
    cost: { N: Number(N), r: Number(r), p: Number(p) },
    salt: Buffer.from(salt!, 'base64url'),
    key: Buffer.from(key!, 'base64url'),
  }
}

/**
 * Why a stored hash cannot be used (not a known format, or weaker than the minimum), or
 * `undefined`; for config validation, so that no user is silently unable to sign in.
 * @example
 * ```ts
 * storedHashProblem('scrypt$1024$8$1$…') // 'scrypt N=1024 is below the minimum N=16384 (2^14): make a new one…'
 * ```
 * @see https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md
 */
export function storedHashProblem(stored: string): string | undefined {
  const parsed = parseStoredHash(stored)
  if (parsed === undefined) return 'must be an scrypt hash (keybound-as hash-password)'
  const weak = weakCostProblem(parsed.cost)
  return weak === undefined ? undefined : `${weak}: make a new one with keybound-as hash-password`
}

/**
 * The cost of a stored hash, or `undefined` when it is not one this server reads.
 * @example
 * ```ts
 * storedHashCost('$scrypt$ln=17,r=8,p=1$…$…') // { N: 131072, r: 8, p: 1 }
 * ```
 * @see https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md
 */
export function storedHashCost(stored: string): ScryptCost | undefined {
  return parseStoredHash(stored)?.cost
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      KEY_LENGTH,
      { ...cost, maxmem: 128 * cost.N * cost.r + 1024 * 1024 * 16 },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    )
  })
}

function encodePhc(cost: ScryptCost, salt: Buffer, key: Buffer): string {
  const unpadded = (buffer: Buffer) => buffer.toString('base64').replace(/=+$/, '')
  return `$scrypt$ln=${Math.log2(cost.N)},r=${cost.r},p=${cost.p}$${unpadded(salt)}$${unpadded(key)}`
}

/**
 * Hashes a password with scrypt and a random salt, for `users[].passwordHash`, as a PHC string.
 * Refuses a cost below the minimum (N = 2^14, r = 8) with core's `InvalidArgument`.
 * @example
 * ```ts
 * const passwordHash = await hashPassword('correct horse battery staple')
 * // '$scrypt$ln=17,r=8,p=1$…$…'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export async function hashPassword(
  password: string,
  cost: ScryptCost = scryptCost(),
): Promise<string> {
  const problem = weakCostProblem(cost)
  if (problem !== undefined) throw invalidArgument('cost', `an accepted scrypt cost (${problem})`)
  const salt = randomBytes(SALT_LENGTH)
  return encodePhc(cost, salt, await derive(password, salt, cost))
}

// Hashes of a random password at each cost, checked when the user is unknown so that the
// answer costs as much as for a known user (no user enumeration through timing).
const dummyHashes = new Map<number, Promise<string>>()

function dummyHash(cost: ScryptCost): Promise<string> {
  let hash = dummyHashes.get(cost.N)
  if (hash === undefined) {
    hash = hashPassword(randomBytes(16).toString('hex'), cost)
    dummyHashes.set(cost.N, hash)
  }
  return hash
}

/** What a password check found. */
export interface PasswordCheck {
  /** The password matches the stored hash. */
  ok: boolean
  /** It matches, and the stored hash is below the current cost or in the old format: store a new one. */
  needsRehash: boolean
}

/**
 * Checks a password against a stored scrypt hash (PHC or the earlier `scrypt$N$r$p$…` form) in
 * constant time. An unknown user (`undefined` hash) costs one run at the current cost and
 * fails. Malformed hashes and hashes below the minimum cost fail closed.
 * @example
 * ```ts
 * const { ok, needsRehash } = await checkPassword(form.password, user?.passwordHash)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export async function checkPassword(
  password: string,
  stored: string | undefined,
  current: ScryptCost = scryptCost(),
): Promise<PasswordCheck> {
  const failed = { ok: false, needsRehash: false }
  const parsed = parseStoredHash(stored ?? (await dummyHash(current)))
  if (parsed === undefined || weakCostProblem(parsed.cost) !== undefined) return failed
  if (typeof password !== 'string' || password.length > 1024) return failed
  let key: Buffer
  try {
    key = await derive(password, parsed.salt, parsed.cost)
  } catch {
    return failed
  }
  if (!timingSafeEqual(key, parsed.key) || stored === undefined) return failed
  const { N, r, p } = parsed.cost
  const below = N < current.N || (N === current.N && r * p < current.r * current.p)
  return { ok: true, needsRehash: below || !stored.startsWith('$scrypt$') }
}

/**
 * Checks a password against a stored hash; `true` when it matches (see {@link checkPassword}).
 * @example
 * ```ts
 * const ok = await verifyPassword(form.password, user?.passwordHash)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export async function verifyPassword(
  password: string,
  stored: string | undefined,
  current?: ScryptCost,
): Promise<boolean> {
  return (await checkPassword(password, stored, current)).ok
}
