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
import type { SigningAlgorithm } from '../config.js'
import type { HsmKeyring, HsmSigner } from './hsm-keys.js'
import { epochSeconds, randomHandle } from '../lib/crypto.js'
import type { Database } from '../storage/database.js'
import {
  insertSigningKey,
  listPublishedSigningKeys,
  retireSigningKeys,
} from '../storage/signing-keys.js'
import { inTransaction } from '../storage/transaction.js'
import { OAuthError } from '../http/wire.js'

/**
 * A signing key: in-process (`privateKey`), or on a PKCS#11 token (`hsmLabel`; `hsmSigner` is
 * set on the active key only). A published key that does not sign has neither signer.
 */
export interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  privateKey: KeyObject | undefined
  /** Label of the key on the PKCS#11 token, when it lives there. */
  hsmLabel: string | undefined
  hsmSigner?: HsmSigner
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

// A key on a token is stored as `{"pkcs11":{"label":"..."}}` in place of its private JWK: the
// database never holds its private part.
function hsmLabelOf(privateJwk: string): string | undefined {
  const parsed = JSON.parse(privateJwk) as { pkcs11?: { label?: unknown } }
  return typeof parsed.pkcs11?.label === 'string' ? parsed.pkcs11.label : undefined
}

function toSigningKey(row: {
  kid: string
  alg: string
  private_jwk: string
  public_jwk: string
}): SigningKey {
  const hsmLabel = hsmLabelOf(row.private_jwk)
  return {
    kid: row.kid,
    alg: row.alg as SigningAlgorithm,
    privateKey:
      hsmLabel === undefined
        ? createPrivateKey({ key: JSON.parse(row.private_jwk), format: 'jwk' })
        : undefined,
    hsmLabel,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
  }
}

async function createKeyMaterial(
  alg: SigningAlgorithm,
  kid: string,
  hsm: HsmKeyring | undefined,
): Promise<{ privateJwk: object; publicJwk: object }> {
  if (hsm !== undefined) {
    const created = await hsm.create(kid, alg)
    return { privateJwk: { pkcs11: { label: created.label } }, publicJwk: created.publicJwk }
  }
  const privateKey = generate(alg)
  return {
    privateJwk: privateKey.export({ format: 'jwk' }),
    publicJwk: createPublicKey(privateKey).export({ format: 'jwk' }),
  }
}

async function insertKey(
  db: Kysely<Database>,
  alg: SigningAlgorithm,
  now: number,
  hsm: HsmKeyring | undefined,
): Promise<void> {
  const kid = randomHandle(12)
  const material = await createKeyMaterial(alg, kid, hsm)
  const publicJwk = { ...material.publicJwk, kid, alg, use: 'sig' }
  await insertSigningKey(db, {
    kid,
    alg,
    private_jwk: JSON.stringify(material.privateJwk),
    public_jwk: JSON.stringify(publicJwk),
    created_at: now,
    retired_at: null,
    expires_at: null,
  })
}

/**
 * Loads the signing keys, creating the first one when there is none (or none for `alg`). With
 * `hsm`, the active key must live on the token (an in-process key is rotated out and stays
 * published only); its signer is opened here, so a wrong PIN, a missing module or a missing key
 * fails the load.
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
  hsm?: HsmKeyring,
): Promise<KeySet> {
  const now = epochSeconds(nowMs)
  const read = () => listPublishedSigningKeys(db, now)
  const usable = (row: { retired_at: number | null; alg: string; private_jwk: string }) =>
    row.retired_at === null &&
    row.alg === alg &&
    (hsmLabelOf(row.private_jwk) !== undefined) === (hsm !== undefined)
  let rows = await read()
  if (!rows.some(usable)) {
    // A changed `signing.alg` or key store rotates too: the old keys stay published meanwhile.
    await rotateSigningKeys(db, { alg, retireAfter, nowMs, hsm })
    rows = await read()
  }
  const published = rows.map(toSigningKey)
  const activeRow = rows.find(usable)!
  const active = published.find((key) => key.kid === activeRow.kid)!
  if (hsm !== undefined) {
    active.hsmSigner = await hsm.open(active.hsmLabel!, alg)
    // Keys deleted from the JWKS sign nothing any more: release their sessions.
    await hsm.retain(new Set(published.flatMap((key) => key.hsmLabel ?? [])))
  }
  return { active, published }
}

/**
 * Makes a new signing key the active one. Keys that were active are retired and stay in the
 * JWKS for `retireAfter` seconds (at least the access-token lifetime, so their tokens still
 * validate); keys past that are deleted. All of it is one transaction. With `hsm` the new key
 * is created on the PKCS#11 token (non-extractable, sensitive) before the transaction commits.
 * @example
 * ```ts
 * await rotateSigningKeys(db, { alg: 'ES256', retireAfter: config.accessTokens.lifetime + 60 })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export async function rotateSigningKeys(
  db: Kysely<Database>,
  options: {
    alg: SigningAlgorithm
    retireAfter: number
    nowMs?: number | undefined
    hsm?: HsmKeyring | undefined
  },
): Promise<void> {
  const now = epochSeconds(options.nowMs ?? Date.now())
  await inTransaction(db, async (trx) => {
    await retireSigningKeys(trx, now, options.retireAfter)
    await insertKey(trx, options.alg, now, options.hsm)
  })
}

const ENCODED_HEADERS = new WeakMap<SigningKey, string>()

function signInProcess(privateKey: KeyObject, alg: SigningAlgorithm, data: Buffer): Buffer {
  switch (alg) {
    case 'ES256':
      return sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    case 'ES384':
      return sign('sha384', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    case 'EdDSA':
      return sign(null, data, privateKey)
    case 'PS256':
      return sign('sha256', data, {
        key: privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      })
    case 'RS256':
      return sign('sha256', data, privateKey)
  }
}

// A token key that cannot sign (token removed, module failing) is answered with 503: the
// client retries later. There is never a fallback to another key.
async function signOnToken(key: SigningKey, data: Buffer): Promise<Uint8Array> {
  if (key.hsmSigner === undefined) throw new Error(`signing key ${key.kid} has no signer`)
  try {
    return await key.hsmSigner.sign(data)
  } catch (error) {
    throw new OAuthError(
      'temporarily_unavailable',
      'the token-signing key is unavailable, try again later',
      { cause: error, retryAfter: 1 },
    )
  }
}

/**
 * Signs a JWT with `typ` (for access tokens `at+jwt`, RFC 9068 §2.1). In-process keys sign
 * synchronously with `node:crypto` (token issuance is the hot path of the token endpoint); a
 * key on a PKCS#11 token signs there, and its failure is an `OAuthError` 503
 * `temporarily_unavailable`.
 * @example
 * ```ts
 * const jwt = signJwt(keys.active, 'at+jwt', { iss, sub, aud, exp, iat, jti, client_id })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.1
 */
export async function signJwt(
  key: SigningKey,
  typ: string,
  payload: Record<string, unknown>,
): Promise<string> {
  let header = typ === 'at+jwt' ? ENCODED_HEADERS.get(key) : undefined
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: key.alg, typ, kid: key.kid })).toString('base64url')
    if (typ === 'at+jwt') ENCODED_HEADERS.set(key, header)
  }
  const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const data = Buffer.from(input)
  const signature =
    key.privateKey === undefined
      ? await signOnToken(key, data)
      : signInProcess(key.privateKey, key.alg, data)
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}
