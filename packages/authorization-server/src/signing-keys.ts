/**
 * Access-token signing keys: generated on first start, stored in the database, rotated by
 * {@link rotateSigningKeys} (or `keybound-as rotate-keys`); a retired key stays in the JWKS
 * until every token it signed has expired, so resource servers keep validating them.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 * @packageDocumentation
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto'
import type { Kysely } from 'kysely'
import type { SigningAlgorithm } from './config.js'
import { epochSeconds, randomHandle } from './lib/crypto.js'
import type { Database } from './storage/database.js'

/** A usable signing key. */
export interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  privateKey: KeyObject
  publicJwk: Record<string, unknown>
}

/** The keys in force: the one that signs, and every key still published. */
export interface KeySet {
  active: SigningKey
  published: SigningKey[]
}

function generate(alg: SigningAlgorithm): KeyObject {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    case 'ES384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey
    case 'EdDSA':
      return generateKeyPairSync('ed25519').privateKey
    case 'PS256':
    case 'RS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  }
}

function toSigningKey(row: {
  kid: string
  alg: string
  private_jwk: string
  public_jwk: string
}): SigningKey {
  return {
    kid: row.kid,
    alg: row.alg as SigningAlgorithm,
    privateKey: createPrivateKey({ key: JSON.parse(row.private_jwk), format: 'jwk' }),
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
  }
}

async function insertKey(db: Kysely<Database>, alg: SigningAlgorithm, now: number): Promise<void> {
  const privateKey = generate(alg)
  const kid = randomHandle(12)
  const publicJwk = {
    ...createPublicKey(privateKey).export({ format: 'jwk' }),
    kid,
    alg,
    use: 'sig',
  }
  await db
    .insertInto('kb_signing_keys')
    .values({
      kid,
      alg,
      private_jwk: JSON.stringify(privateKey.export({ format: 'jwk' })),
      public_jwk: JSON.stringify(publicJwk),
      created_at: now,
      retired_at: null,
      expires_at: null,
    })
    .execute()
}

/**
 * Loads the signing keys, creating the first one when there is none (or none for `alg`).
 * @example
 * ```ts
 * const keys = await loadSigningKeys(db, 'ES256', Date.now())
 * keys.active.kid
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export async function loadSigningKeys(
  db: Kysely<Database>,
  alg: SigningAlgorithm,
  nowMs: number,
  retireAfter = 0,
): Promise<KeySet> {
  const now = epochSeconds(nowMs)
  const read = () =>
    db
      .selectFrom('kb_signing_keys')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute()
  let rows = await read()
  if (!rows.some((row) => row.retired_at === null && row.alg === alg)) {
    // A changed `signing.alg` rotates too: keys of the old algorithm stay published meanwhile.
    await rotateSigningKeys(db, { alg, retireAfter, nowMs })
    rows = await read()
  }
  const published = rows.map(toSigningKey)
  const activeRow = rows.find((row) => row.retired_at === null && row.alg === alg)!
  return { active: published.find((key) => key.kid === activeRow.kid)!, published }
}

/**
 * Makes a new signing key the active one. Keys that were active are retired and stay in the
 * JWKS for `retireAfter` seconds (at least the access-token lifetime, so their tokens still
 * validate); keys past that are deleted. All of it is one transaction.
 * @example
 * ```ts
 * await rotateSigningKeys(db, { alg: 'ES256', retireAfter: config.accessTokens.lifetime + 60 })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export async function rotateSigningKeys(
  db: Kysely<Database>,
  options: { alg: SigningAlgorithm; retireAfter: number; nowMs?: number },
): Promise<void> {
  const now = epochSeconds(options.nowMs ?? Date.now())
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('kb_signing_keys').where('expires_at', '<=', now).execute()
    await trx
      .updateTable('kb_signing_keys')
      .set({ retired_at: now, expires_at: now + options.retireAfter })
      .where('retired_at', 'is', null)
      .execute()
    await insertKey(trx, options.alg, now)
  })
}

const ENCODED_HEADERS = new WeakMap<SigningKey, string>()

function signWith(key: SigningKey, data: Buffer): Buffer {
  switch (key.alg) {
    case 'ES256':
      return sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    case 'ES384':
      return sign('sha384', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    case 'EdDSA':
      return sign(null, data, key.privateKey)
    case 'PS256':
      return sign('sha256', data, {
        key: key.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      })
    case 'RS256':
      return sign('sha256', data, key.privateKey)
  }
}

/**
 * Signs a JWT with `typ` (for access tokens `at+jwt`, RFC 9068 §2.1). Synchronous
 * `node:crypto`, because token issuance is the hot path of the token endpoint.
 * @example
 * ```ts
 * const jwt = signJwt(keys.active, 'at+jwt', { iss, sub, aud, exp, iat, jti, client_id })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.1
 */
export function signJwt(key: SigningKey, typ: string, payload: Record<string, unknown>): string {
  let header = typ === 'at+jwt' ? ENCODED_HEADERS.get(key) : undefined
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: key.alg, typ, kid: key.kid })).toString('base64url')
    if (typ === 'at+jwt') ENCODED_HEADERS.set(key, header)
  }
  const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${signWith(key, Buffer.from(input)).toString('base64url')}`
}
