/**
 * The users of the config file in the database, and the hashes upgraded at sign-in. Users come
 * from the config file, which the server cannot rewrite: a hash upgraded at sign-in is kept in
 * `kb_settings` with a fingerprint of the config hash it replaced, and used instead of that hash
 * for as long as the config still carries it.
 *
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#upgrading-legacy-hashes
 * @packageDocumentation
 */
import type { Kysely } from 'kysely'
import type { UserConfig } from '../config.js'
import { epochSeconds, hashHandle } from '../lib/crypto.js'
import type { Database } from '../storage/database.js'
import { deleteSetting, findSetting, replaceSetting } from '../storage/settings.js'
import { inTransaction } from '../storage/transaction.js'
import { replacePasswordHash, replaceUsers } from '../storage/users.js'
import { hashPassword, type ScryptCost } from './passwords.js'

// One setting per user, named by a hash of the username.
function upgradeSettingName(username: string): string {
  return `password_upgrade:${hashHandle(username)}`
}

/**
 * Stores a new hash of a user's password (made at the current cost) after a sign-in with a
 * weaker one, so that it survives restarts while the config keeps the old hash.
 * @example
 * ```ts
 * if (check.needsRehash) await storeUpgradedHash(db, user.username, user.password_hash, password, cost)
 * ```
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#upgrading-legacy-hashes
 */
export async function storeUpgradedHash(
  db: Kysely<Database>,
  username: string,
  verifiedHash: string,
  password: string,
  cost: ScryptCost,
  nowSeconds: number,
): Promise<void> {
  const hash = await hashPassword(password, cost)
  const name = upgradeSettingName(username)
  await inTransaction(db, async (trx) => {
    const earlier = await findSetting(trx, name)
    // The fingerprint stays that of the config hash, however often the hash is upgraded.
    const replaces =
      earlier === undefined
        ? hashHandle(verifiedHash)
        : (JSON.parse(earlier) as { replaces: string }).replaces
    await replaceSetting(trx, name, JSON.stringify({ replaces, hash }))
    await replacePasswordHash(trx, { username, current: verifiedHash, next: hash, now: nowSeconds })
  })
}

/**
 * The hash to use for a configured user: the upgraded one stored at an earlier sign-in while
 * the config still carries the hash it replaced, else the configured one (and a stale upgrade,
 * e.g. after a password change in the config, is dropped).
 * @example
 * ```ts
 * const hash = await effectiveHash(trx, user.username, user.passwordHash)
 * ```
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#upgrading-legacy-hashes
 */
export async function effectiveHash(
  db: Kysely<Database>,
  username: string,
  configured: string,
): Promise<string> {
  const name = upgradeSettingName(username)
  const stored = await findSetting(db, name)
  if (stored === undefined) return configured
  const upgrade = JSON.parse(stored) as { replaces: string; hash: string }
  if (upgrade.replaces === hashHandle(configured)) return upgrade.hash
  await deleteSetting(db, name)
  return configured
}

/**
 * Writes the config file's users to the database, replacing the earlier set, each with the
 * hash to use ({@link effectiveHash}), in one transaction.
 * @example
 * ```ts
 * await syncConfigUsers(db, config.users, Date.now())
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export async function syncConfigUsers(
  db: Kysely<Database>,
  users: readonly UserConfig[],
  nowMs: number,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    const rows = []
    for (const user of users) {
      rows.push({
        username: user.username,
        subject: user.subject,
        password_hash: await effectiveHash(trx, user.username, user.passwordHash),
        updated_at: epochSeconds(nowMs),
      })
    }
    await replaceUsers(trx, rows)
  })
}
