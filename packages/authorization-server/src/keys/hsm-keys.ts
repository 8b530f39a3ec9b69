/**
 * Token-signing keys on a PKCS#11 token (an HSM, SoftHSM2, a TPM through tpm2-pkcs11): each key
 * is created on the token, non-extractable and sensitive, under the label `<object>-<kid>`; the
 * database keeps only its kid, algorithm, public JWK and label. `@keybound/pkcs11` is an optional
 * peer, loaded only when `signing.pkcs11` is configured.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7512
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-5.1
 * @packageDocumentation
 */
import { KeyboundError } from '@keybound/core'
import type { Pkcs11Signer } from '@keybound/pkcs11'
import type { SigningAlgorithm, SigningPkcs11Config } from '../config.js'
import type { AuthorizationServerErrorCode } from '../errors.js'

/** Signs JWS signing inputs with one key held on the token. */
export interface HsmSigner {
  /** Resolves to the JWS signature (ES256 `r||s`, RSA, Ed25519) over `signingInput`. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>
}

/** The keys of one PKCS#11 token, opened once and shared by every load and rotation. */
export interface HsmKeyring {
  /** Creates the key of `kid` on the token; resolves to its public JWK (without kid/alg/use). */
  create(kid: string, alg: SigningAlgorithm): Promise<{ label: string; publicJwk: object }>
  /** Opens (once) the key with this label, failing when the token does not hold it. */
  open(label: string, alg: SigningAlgorithm): Promise<HsmSigner>
  /** Closes the sessions of keys whose label is not in `labels` (keys deleted from the JWKS). */
  retain(labels: ReadonlySet<string>): Promise<void>
  close(): Promise<void>
}

/**
 * Error at start or rotation: the token, module, PIN or key named by `signing.pkcs11` cannot be
 * used. The message names the setting and the cause, never the PIN.
 * @example
 * ```ts
 * catch (error) { if (error instanceof HsmKeyError) console.error(error.code, error.message) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export class HsmKeyError extends KeyboundError {
  /** The stable code of this error class. */
  static code: AuthorizationServerErrorCode = 'ERR_DPOP_AS_HSM_KEY_UNAVAILABLE'
  /** The stable code of this error. */
  declare readonly code: AuthorizationServerErrorCode
}

type Pkcs11Module = typeof import('@keybound/pkcs11')

async function importPkcs11(): Promise<Pkcs11Module> {
  try {
    return await import('@keybound/pkcs11')
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new HsmKeyError(
        'signing.pkcs11 needs the optional peer @keybound/pkcs11: npm install @keybound/pkcs11',
        { cause: error },
      )
    }
    throw error
  }
}

/**
 * The URI of the key labelled `label`: the configured URI with its `object` attribute replaced
 * (the configured `object` is the prefix of every key's label).
 * @example
 * ```ts
 * keyUri('pkcs11:token=as;object=as-signing?module-path=/m.so', 'as-signing-k1')
 * // 'pkcs11:token=as;object=as-signing-k1?module-path=/m.so'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export function keyUri(uri: string, label: string): string {
  const query = uri.indexOf('?')
  const path = (query === -1 ? uri : uri.slice(0, query)).slice('pkcs11:'.length)
  const rest = query === -1 ? '' : uri.slice(query)
  const attributes = path.split(';').filter((part) => part !== '' && !/^object=/i.test(part))
  attributes.push(`object=${encodeURIComponent(label)}`)
  return `pkcs11:${attributes.join(';')}${rest}`
}

/**
 * The label prefix: the configured URI's `object` attribute, percent-decoded.
 * @example
 * ```ts
 * labelPrefix('pkcs11:token=as;object=as%20signing') // 'as signing'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export function labelPrefix(uri: string): string | undefined {
  const query = uri.indexOf('?')
  const path = query === -1 ? uri : uri.slice(0, query)
  const match = /(?:^pkcs11:|;)object=([^;]*)/i.exec(path)
  return match === null ? undefined : decodeURIComponent(match[1]!)
}

/**
 * Loads `@keybound/pkcs11` and returns the keyring of the configured token. Nothing is opened
 * yet: {@link HsmKeyring.open} and {@link HsmKeyring.create} log in on first use.
 * @example
 * ```ts
 * const keyring = await openHsmKeyring(config.signing.pkcs11)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512
 */
export async function openHsmKeyring(config: SigningPkcs11Config): Promise<HsmKeyring> {
  const { openPkcs11Signer } = await importPkcs11()
  const signers = new Map<string, Promise<Pkcs11Signer>>()
  const prefix = labelPrefix(config.uri)!

  function start(label: string, alg: SigningAlgorithm, create: boolean): Promise<Pkcs11Signer> {
    const opening = openPkcs11Signer({
      uri: keyUri(config.uri, label),
      alg: alg as Pkcs11Signer['alg'],
      pin: { env: config.pinEnv },
      create,
      poolSize: config.poolSize,
    }).catch((error: unknown) => {
      signers.delete(label)
      throw new HsmKeyError(
        `signing.pkcs11: cannot open the signing key "${label}": ${(error as Error).message}`,
        { cause: error },
      )
    })
    signers.set(label, opening)
    return opening
  }

  async function retain(labels: ReadonlySet<string>): Promise<void> {
    for (const [label, opening] of signers) {
      if (labels.has(label)) continue
      signers.delete(label)
      await opening.then((signer) => signer.close()).catch(() => undefined)
    }
  }

  return {
    async create(kid, alg) {
      const label = `${prefix}-${kid}`
      const signer = await start(label, alg, true)
      return { label, publicJwk: { ...signer.publicJwk } }
    },
    open: (label, alg) => signers.get(label) ?? start(label, alg, false),
    retain,
    close: () => retain(new Set()),
  }
}
