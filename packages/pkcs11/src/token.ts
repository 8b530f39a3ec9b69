/**
 * Token-side steps of connecting a signer: pick the slot a URI names, log in, find (or create)
 * the private key, check it, and read its public half as a JWK.
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import type { Handle, Template } from 'pkcs11js'
import type { PublicJwk } from '@keybound/core'
import type { AlgorithmProfile } from './algorithms.js'
import { ckrName, isPkcs11Error } from './ckr.js'
import {
  Pkcs11KeyNotFound,
  Pkcs11KeyRejected,
  Pkcs11MechanismUnsupported,
  Pkcs11PinInvalid,
  Pkcs11TokenUnavailable,
  Pkcs11UriInvalid,
} from './errors.js'
import type { LoadedModule } from './module.js'
import type { Pkcs11Uri } from './uri.js'

// RFC 7518 §3.3 (and core's table): RSA keys for RS256/PS256 are at least 2048 bits.
const RSA_MIN_BITS = 2048

/** The key a signer uses: its private handle and public JWK. */
export interface TokenKey {
  readonly handle: Handle
  readonly publicJwk: PublicJwk
}

/**
 * The one slot whose token matches the URI's token and slot attributes (RFC 7512 §2.3).
 * No match is "token unavailable" (it may be inserted later); several matches are refused.
 */
export function findSlot(module: LoadedModule, uri: Pkcs11Uri): Handle {
  const { library } = module
  const matches: Handle[] = []
  for (const slot of library.C_GetSlotList(true)) {
    if (uri.slotId !== undefined && readUlong(slot) !== uri.slotId) continue
    let token, info
    try {
      token = library.C_GetTokenInfo(slot)
      info = library.C_GetSlotInfo(slot)
    } catch {
      continue // A token that cannot describe itself is not there for us.
    }
    if (
      matchesText(uri.token, token.label) &&
      matchesText(uri.manufacturer, token.manufacturerID) &&
      matchesText(uri.serial, token.serialNumber) &&
      matchesText(uri.model, token.model) &&
      matchesText(uri.slotDescription, info.slotDescription) &&
      matchesText(uri.slotManufacturer, info.manufacturerID)
    )
      matches.push(slot)
  }
  if (matches.length === 1) return matches[0]!
  if (matches.length === 0) {
    throw new Pkcs11TokenUnavailable('no token present matches the pkcs11: URI', {
      reason: 'absent',
      details: { token: uri.token },
    })
  }
  throw new Pkcs11UriInvalid(
    `${matches.length} tokens match the pkcs11: URI; add token= or serial= to pick one`,
    { claim: 'uri', reason: 'ambiguous' },
  )
}

// CK_TOKEN_INFO strings are blank-padded fixed-size fields.
function matchesText(wanted: string | undefined, actual: string): boolean {
  return wanted === undefined || actual.replace(/[ \0]+$/, '') === wanted
}

/** Fails unless the token offers the mechanism `profile` signs with. */
export function requireMechanism(module: LoadedModule, slot: Handle, profile: AlgorithmProfile) {
  if (!module.library.C_GetMechanismList(slot).includes(profile.signMechanism)) {
    throw new Pkcs11MechanismUnsupported(
      `the token does not offer the PKCS#11 mechanism ${profile.alg} needs`,
      { claim: 'alg', reason: 'mechanism', details: { mechanism: profile.signMechanism } },
    )
  }
}

/**
 * Logs the user in. A refused or locked PIN is a {@link Pkcs11PinInvalid}; an already logged-in
 * token (another signer in this process) is fine.
 */
export function login(module: LoadedModule, session: Handle, pin: string): void {
  const { binding, library } = module
  try {
    library.C_Login(session, binding.CKU_USER, pin)
  } catch (error) {
    if (isPkcs11Error(error) && error.code === binding.CKR_USER_ALREADY_LOGGED_IN) return
    if (
      isPkcs11Error(error) &&
      [binding.CKR_PIN_INCORRECT, binding.CKR_PIN_LEN_RANGE, binding.CKR_PIN_LOCKED].includes(
        error.code,
      )
    ) {
      const locked = error.code === binding.CKR_PIN_LOCKED
      throw new Pkcs11PinInvalid(locked ? 'the token PIN is locked' : 'the token refused the PIN', {
        reason: locked ? 'locked' : 'incorrect',
        details: { ckr: ckrName(binding, error) },
      })
    }
    throw error
  }
}

/**
 * The private key the URI names, created when absent and `create` is set. Created keys are
 * token objects, private, sensitive and never extractable (PKCS#11 §4.9).
 */
export async function findOrCreateKey(
  module: LoadedModule,
  session: Handle,
  uri: Pkcs11Uri,
  profile: AlgorithmProfile,
  options: { create: boolean; allowExtractableKey: boolean },
): Promise<TokenKey> {
  const { binding } = module
  const selector: Template = [{ type: binding.CKA_CLASS, value: binding.CKO_PRIVATE_KEY }]
  if (uri.object !== undefined) selector.push({ type: binding.CKA_LABEL, value: uri.object })
  if (uri.id !== undefined) selector.push({ type: binding.CKA_ID, value: Buffer.from(uri.id) })
  const found = findObjects(module, session, selector)
  if (found.length > 1) {
    throw new Pkcs11KeyNotFound(`${found.length} private keys match the pkcs11: URI`, {
      reason: 'ambiguous',
    })
  }
  let handle = found[0]
  if (handle === undefined) {
    if (!options.create) {
      throw new Pkcs11KeyNotFound('no private key on the token matches the pkcs11: URI', {
        reason: 'missing',
        details: { object: uri.object },
      })
    }
    handle = await generateKeyPair(module, session, uri, profile)
  }
  checkPrivateKey(module, session, handle, profile, options.allowExtractableKey)
  return { handle, publicJwk: readPublicJwk(module, session, handle, profile) }
}

function findObjects(module: LoadedModule, session: Handle, template: Template): Handle[] {
  const { library } = module
  library.C_FindObjectsInit(session, template)
  try {
    return library.C_FindObjects(session, 4)
  } finally {
    library.C_FindObjectsFinal(session)
  }
}

async function generateKeyPair(
  module: LoadedModule,
  session: Handle,
  uri: Pkcs11Uri,
  profile: AlgorithmProfile,
): Promise<Handle> {
  const { binding, library } = module
  // The id ties the public half to the private one; a random one when the URI gives none.
  const id = Buffer.from(uri.id ?? randomBytes(16))
  const common: Template = [
    { type: binding.CKA_TOKEN, value: true },
    { type: binding.CKA_ID, value: id },
    ...(uri.object === undefined ? [] : [{ type: binding.CKA_LABEL, value: uri.object }]),
  ]
  const publicTemplate: Template = [
    ...common,
    { type: binding.CKA_VERIFY, value: true },
    ...profile.publicTemplate,
  ]
  const privateTemplate: Template = [
    ...common,
    { type: binding.CKA_SIGN, value: true },
    { type: binding.CKA_PRIVATE, value: true },
    { type: binding.CKA_SENSITIVE, value: true },
    { type: binding.CKA_EXTRACTABLE, value: false },
  ]
  // Tracked like signing: a re-initialization must not finalize the module under it.
  const pair = await module.track(() =>
    library.C_GenerateKeyPairAsync(session, profile.generate, publicTemplate, privateTemplate),
  )
  return pair.privateKey
}

function checkPrivateKey(
  module: LoadedModule,
  session: Handle,
  handle: Handle,
  profile: AlgorithmProfile,
  allowExtractableKey: boolean,
): void {
  const { binding } = module
  const [keyType, canSign, sensitive, extractable] = readAttributes(module, session, handle, [
    binding.CKA_KEY_TYPE,
    binding.CKA_SIGN,
    binding.CKA_SENSITIVE,
    binding.CKA_EXTRACTABLE,
  ])
  if (readUlong(keyType) !== profile.keyType)
    throw rejected(`the key's type does not fit ${profile.alg}`, 'key type')
  if (!flag(canSign)) throw rejected('the key is not allowed to sign (CKA_SIGN)', 'sign')
  if (!allowExtractableKey && (flag(extractable) || !flag(sensitive)))
    throw rejected('the key can leave the token (extractable or not sensitive)', 'extractable')
}

function readPublicJwk(
  module: LoadedModule,
  session: Handle,
  handle: Handle,
  profile: AlgorithmProfile,
): PublicJwk {
  const { binding } = module
  if (profile.keyType === binding.CKK_RSA) {
    // Modulus and public exponent are public attributes of an RSA private key (PKCS#11 §2.1.3).
    const [modulus, exponent] = readAttributes(module, session, handle, [
      binding.CKA_MODULUS,
      binding.CKA_PUBLIC_EXPONENT,
    ])
    const n = stripZeros(modulus)
    if (n.length * 8 < RSA_MIN_BITS) throw rejected('the RSA key is shorter than 2048 bits', 'size')
    return { kty: 'RSA', n: n.toString('base64url'), e: stripZeros(exponent).toString('base64url') }
  }
  const [id] = readAttributes(module, session, handle, [binding.CKA_ID])
  const publicKeys = findObjects(module, session, [
    { type: binding.CKA_CLASS, value: binding.CKO_PUBLIC_KEY },
    { type: binding.CKA_ID, value: id ?? Buffer.alloc(0) },
  ])
  if (publicKeys.length !== 1) throw rejected('no single public key shares the key id', 'public')
  const [params, point] = readAttributes(module, session, publicKeys[0]!, [
    binding.CKA_EC_PARAMS,
    binding.CKA_EC_POINT,
  ])
  if (params === undefined || profile.acceptsCurve?.(params) !== true)
    throw rejected(`the key's curve does not fit ${profile.alg}`, 'curve')
  return pointToJwk(profile, point)
}

function pointToJwk(profile: AlgorithmProfile, point: Buffer | undefined): PublicJwk {
  // CKA_EC_POINT is a DER OCTET STRING; some tokens store the bare point.
  const size = profile.alg === 'ES256' ? 65 : 32
  let raw = point
  if (raw !== undefined && raw.length === size + 2 && raw[0] === 0x04 && raw[1] === size)
    raw = raw.subarray(2)
  if (raw === undefined || raw.length !== size) throw rejected('unreadable public point', 'public')
  if (profile.alg !== 'ES256') return { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }
  if (raw[0] !== 0x04) throw rejected('the public point is not uncompressed', 'public')
  return {
    kty: 'EC',
    crv: 'P-256',
    x: raw.subarray(1, 33).toString('base64url'),
    y: raw.subarray(33).toString('base64url'),
  }
}

function readAttributes(
  module: LoadedModule,
  session: Handle,
  handle: Handle,
  types: number[],
): (Buffer | undefined)[] {
  try {
    const values = module.library.C_GetAttributeValue(
      session,
      handle,
      types.map((type) => ({ type })),
    )
    return values.map((attribute) => attribute.value as Buffer | undefined)
  } catch (error) {
    if (isPkcs11Error(error) && error.code === module.binding.CKR_ATTRIBUTE_SENSITIVE)
      throw rejected('a public attribute of the key is marked sensitive', 'attributes')
    if (isPkcs11Error(error) && error.code === module.binding.CKR_ATTRIBUTE_TYPE_INVALID)
      throw rejected('the key lacks an attribute a signing key has', 'attributes')
    throw error
  }
}

// CK_ULONG values (handles, key types) arrive as native-endian buffers of 4 or 8 bytes.
function readUlong(value: Buffer | undefined): number | undefined {
  if (value === undefined || value.length === 0 || value.length > 8) return undefined
  const padded = Buffer.alloc(8)
  value.copy(padded)
  return Number(padded.readBigUInt64LE())
}

function flag(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0
}

function stripZeros(value: Buffer | undefined): Buffer {
  if (value === undefined) throw rejected('the RSA key lacks its public values', 'public')
  let start = 0
  while (start < value.length - 1 && value[start] === 0) start++
  return value.subarray(start)
}

function rejected(message: string, reason: string): Pkcs11KeyRejected {
  return new Pkcs11KeyRejected(message, { reason })
}
