/**
 * Errors of the PKCS#11 signer, in Keybound's one error family (`KeyboundError`), so `createProof`
 * hands them to the caller unchanged. Each class has a stable `code`; `reason` is a short
 * machine-friendly word; `details.ckr` carries the PKCS#11 return value name where there is one.
 * Messages never contain a PIN.
 * @see https://www.rfc-editor.org/rfc/rfc7512
 * @packageDocumentation
 */
import { KeyboundError, type KeyboundErrorOptions } from '@keybound/core'

/**
 * Stable codes of the errors thrown by `@keybound/pkcs11`.
 * @see https://www.rfc-editor.org/rfc/rfc7512
 */
export type Pkcs11ErrorCode =
  | 'ERR_DPOP_PKCS11_URI_INVALID'
  | 'ERR_DPOP_PKCS11_MODULE_UNAVAILABLE'
  | 'ERR_DPOP_PKCS11_PIN_INVALID'
  | 'ERR_DPOP_PKCS11_KEY_NOT_FOUND'
  | 'ERR_DPOP_PKCS11_KEY_REJECTED'
  | 'ERR_DPOP_PKCS11_MECHANISM_UNSUPPORTED'
  | 'ERR_DPOP_PKCS11_TOKEN_UNAVAILABLE'
  | 'ERR_DPOP_PKCS11_FAILED'

/**
 * What a PKCS#11 error carries besides its message (never a PIN).
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export interface Pkcs11ErrorOptions extends KeyboundErrorOptions {
  /** The URI attribute or signer option the failure is about, e.g. `object`, `pinSource`. */
  claim?: string
}

/**
 * Base of the PKCS#11 signer's errors.
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11Error) console.error(error.code, error.reason) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512
 */
export abstract class Pkcs11Error extends KeyboundError {
  /** The stable code of this error. */
  declare readonly code: Pkcs11ErrorCode
  /** The URI attribute or option the failure concerns, when there is one. */
  readonly claim?: string

  constructor(message: string, options: Pkcs11ErrorOptions = {}) {
    super(message, options)
    if (options.claim !== undefined) this.claim = options.claim
  }
}

/**
 * The `pkcs11:` URI or the signer options are not acceptable (RFC 7512 syntax, an attribute the
 * signer does not support, a PIN in the URI, a relative module path).
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11UriInvalid) console.error(error.code, error.claim) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export class Pkcs11UriInvalid extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_URI_INVALID'
}

/**
 * The PKCS#11 module (the `.so` library) or the `pkcs11js` binding could not be loaded or
 * initialized.
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11ModuleUnavailable) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export class Pkcs11ModuleUnavailable extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_MODULE_UNAVAILABLE'
}

/**
 * No PIN source, an empty PIN, or the token refused the PIN (`CKR_PIN_INCORRECT`,
 * `CKR_PIN_LOCKED`). A signer that saw a refused PIN stays failed: trying again on every proof
 * would lock the token.
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11PinInvalid) console.error(error.code, error.reason) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export class Pkcs11PinInvalid extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_PIN_INVALID'
}

/**
 * No private key on the token matches the URI (and the signer was not asked to create one), or
 * more than one does.
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11KeyNotFound) console.error(error.code, error.reason) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export class Pkcs11KeyNotFound extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_KEY_NOT_FOUND'
}

/**
 * A key matches the URI but cannot be used: wrong type or curve for `alg`, RSA modulus under
 * 2048 bits, extractable or not sensitive, no public half, or (after the token came back) not
 * the key the signer started with.
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11KeyRejected) console.error(error.code, error.reason) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export class Pkcs11KeyRejected extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_KEY_REJECTED'
}

/**
 * The token does not offer the mechanism `alg` needs (for example `CKM_EDDSA` for EdDSA).
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11MechanismUnsupported) console.error(error.code) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1
 */
export class Pkcs11MechanismUnsupported extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_MECHANISM_UNSUPPORTED'
}

/**
 * The token is not there (removed, not yet inserted, its sessions or key handles were lost).
 * The signer re-initializes the module and reconnects on the next call; nothing is signed with
 * any other key in the meantime.
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11TokenUnavailable) retryLater() }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export class Pkcs11TokenUnavailable extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_TOKEN_UNAVAILABLE'
}

/**
 * Any other PKCS#11 failure (the return value name is in `details.ckr`).
 * @example
 * ```ts
 * catch (error) { if (error instanceof Pkcs11Failed) console.error(error.code, error.details) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512
 */
export class Pkcs11Failed extends Pkcs11Error {
  static code: Pkcs11ErrorCode = 'ERR_DPOP_PKCS11_FAILED'
}
