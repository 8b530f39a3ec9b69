/**
 * A strict parser for RFC 7512 `pkcs11:` URIs: the path attributes that pick a token and an
 * object, and the query attributes that name the module and the PIN source. A PIN written into
 * the URI (`pin-value`) is refused, because URIs end up in shell history, process lists and logs.
 * @see https://www.rfc-editor.org/rfc/rfc7512
 * @packageDocumentation
 */
import { isAbsolute } from 'node:path'
import { Pkcs11UriInvalid } from './errors.js'

/** What a `pkcs11:` URI says, decoded. Absent attributes match anything (RFC 7512 §2.3). */
export interface Pkcs11Uri {
  /** Token label (`token`, CK_TOKEN_INFO label). */
  readonly token?: string
  /** Token manufacturer (`manufacturer`). */
  readonly manufacturer?: string
  /** Token serial number (`serial`). */
  readonly serial?: string
  /** Token model (`model`). */
  readonly model?: string
  /** Slot id (`slot-id`, decimal). */
  readonly slotId?: number
  /** Slot description (`slot-description`). */
  readonly slotDescription?: string
  /** Slot manufacturer (`slot-manufacturer`). */
  readonly slotManufacturer?: string
  /** Object label (`object`, CKA_LABEL). */
  readonly object?: string
  /** Object id (`id`, CKA_ID, raw bytes). */
  readonly id?: Uint8Array
  /** Object type (`type`); the signer only accepts `private` (or nothing). */
  readonly type?: 'private'
  /** Absolute path of the PKCS#11 module (`module-path`). */
  readonly modulePath?: string
  /** Name of the environment variable that holds the PIN (`pin-source=env:NAME`). */
  readonly pinEnv?: string
}

// RFC 7512 §2.3: pk11-pchar and pk11-qchar (unreserved, the allowed reserved characters and
// percent-encoded octets; the query also allows "/", "?", "|").
const PATH_VALUE = /^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=&]|%[0-9A-Fa-f]{2})*$/
const QUERY_VALUE = /^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=/?|]|%[0-9A-Fa-f]{2})*$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const TOKEN_TEXT = ['token', 'manufacturer', 'serial', 'model'] as const
const SLOT_TEXT = { 'slot-description': 'slotDescription', 'slot-manufacturer': 'slotManufacturer' }
const IGNORED_LIBRARY = new Set(['library-manufacturer', 'library-description', 'library-version'])

type Mutable = { -readonly [K in keyof Pkcs11Uri]: Pkcs11Uri[K] }

/**
 * Parses a `pkcs11:` URI strictly and reports every problem at once: unknown or repeated
 * attributes, bad percent-encoding, `pin-value`, `module-name`, a relative `module-path`, a
 * `pin-source` other than `env:NAME`, and a `type` other than `private`.
 * @example
 * ```ts
 * const uri = parsePkcs11Uri('pkcs11:token=dpop;object=agent?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:DPOP_PIN')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (typeof text !== 'string' || !/^pkcs11:/i.test(text))
    throw new Pkcs11UriInvalid('a PKCS#11 key is addressed by a "pkcs11:" URI', { claim: 'uri' })
  const rest = text.slice('pkcs11:'.length)
  if (rest.includes('#'))
    throw new Pkcs11UriInvalid('a "pkcs11:" URI has no fragment', { claim: 'uri' })
  const queryAt = rest.indexOf('?')
  const path = queryAt === -1 ? rest : rest.slice(0, queryAt)
  const query = queryAt === -1 ? '' : rest.slice(queryAt + 1)
  const problems: string[] = []
  const uri: Mutable = {}
  const seen = new Set<string>()
  for (const [name, raw] of splitAttributes(path, ';', problems)) {
    if (!noteOnce(seen, name, problems)) continue
    if (!PATH_VALUE.test(raw)) problems.push(`${name}: characters RFC 7512 does not allow`)
    else applyPathAttribute(uri, name, raw, problems)
  }
  for (const [name, raw] of splitAttributes(query, '&', problems)) {
    if (!noteOnce(seen, name, problems)) continue
    if (!QUERY_VALUE.test(raw)) problems.push(`${name}: characters RFC 7512 does not allow`)
    else applyQueryAttribute(uri, name, raw, problems)
  }
  if (problems.length > 0) {
    throw new Pkcs11UriInvalid(`invalid pkcs11: URI: ${problems.join('; ')}`, {
      claim: 'uri',
      details: { problems },
    })
  }
  return Object.freeze(uri)
}

function splitAttributes(part: string, separator: string, problems: string[]): [string, string][] {
  if (part === '') return []
  const pairs: [string, string][] = []
  for (const item of part.split(separator)) {
    const equals = item.indexOf('=')
    if (equals <= 0) {
      problems.push(`"${truncate(item)}" is not an attribute=value pair`)
      continue
    }
    pairs.push([item.slice(0, equals), item.slice(equals + 1)])
  }
  return pairs
}

function noteOnce(seen: Set<string>, name: string, problems: string[]): boolean {
  if (seen.has(name)) {
    problems.push(`${name}: appears more than once`)
    return false
  }
  seen.add(name)
  return true
}

// A value that did not decode is left out: its problem is already noted and the URI refused.
function setText(
  uri: Mutable,
  key: 'token' | 'object' | 'slotDescription',
  text: string | undefined,
): void {
  if (text !== undefined) uri[key] = text
}

function applyPathAttribute(uri: Mutable, name: string, raw: string, problems: string[]): void {
  if ((TOKEN_TEXT as readonly string[]).includes(name) || name === 'object') {
    setText(uri, name as 'token' | 'object', decodeText(name, raw, problems))
  } else if (name in SLOT_TEXT) {
    const key = SLOT_TEXT[name as keyof typeof SLOT_TEXT] as 'slotDescription'
    setText(uri, key, decodeText(name, raw, problems))
  } else if (name === 'slot-id') {
    if (/^[0-9]{1,10}$/.test(raw) && Number(raw) <= 0xffffffff) uri.slotId = Number(raw)
    else problems.push('slot-id: must be a decimal CK_SLOT_ID')
  } else if (name === 'id') {
    uri.id = decodeBytes(raw)
    if (uri.id.length === 0) problems.push('id: must not be empty')
  } else if (name === 'type') {
    if (raw === 'private') uri.type = 'private'
    else problems.push(`type: a proof signer needs a private key, not "${truncate(raw)}"`)
  } else if (IGNORED_LIBRARY.has(name)) {
    problems.push(`${name}: matching on the library is not supported; name it with module-path`)
  } else {
    problems.push(`${truncate(name)}: unknown path attribute`)
  }
}

function applyQueryAttribute(uri: Mutable, name: string, raw: string, problems: string[]): void {
  if (name === 'pin-value') {
    problems.push('pin-value: a PIN must not be written into the URI; use pin-source=env:NAME')
  } else if (name === 'pin-source') {
    const env = /^env:(.*)$/.exec(decodeText(name, raw, problems) ?? '')?.[1]
    if (env !== undefined && ENV_NAME.test(env)) uri.pinEnv = env
    else problems.push('pin-source: only env:NAME (an environment variable) is supported')
  } else if (name === 'module-path') {
    const modulePath = decodeText(name, raw, problems)
    if (modulePath !== undefined && isAbsolute(modulePath)) uri.modulePath = modulePath
    else problems.push('module-path: must be an absolute path')
  } else if (name === 'module-name') {
    problems.push('module-name: searching for a module by name is not supported; use module-path')
  } else {
    problems.push(`${truncate(name)}: unknown query attribute`)
  }
}

function decodeBytes(raw: string): Uint8Array {
  const bytes: number[] = []
  for (let index = 0; index < raw.length; index++) {
    if (raw[index] === '%') {
      bytes.push(Number.parseInt(raw.slice(index + 1, index + 3), 16))
      index += 2
    } else {
      bytes.push(raw.charCodeAt(index))
    }
  }
  return Uint8Array.from(bytes)
}

function decodeText(name: string, raw: string, problems: string[]): string | undefined {
  // Labels are UTF-8 (RFC 7512 §2.3); a byte sequence that is not UTF-8 is refused, not mangled.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(decodeBytes(raw))
  } catch {
    problems.push(`${name}: not UTF-8 after percent-decoding`)
    return undefined
  }
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}
