/**
 * The one error family of Keybound. Every error a Keybound package throws on purpose is a
 * {@link KeyboundError}: it has a stable `code` (on the class and on the instance, all codes
 * start with `ERR_DPOP_`), an optional stable `reason` identifier (a fixed word or two, never a
 * value) and optional structured `details`. Each package declares its own code union and its own
 * subclasses; core's errors about a proof are {@link DPoPError}s, which add the proof field in
 * `claim`. Messages name the RFC field; they never contain a token, a proof or a secret. The
 * catalogue of every code is docs/errors.md.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 */

/**
 * The shape every Keybound error code has: one prefix for the whole family, then the package's
 * area where it is not core (`CLIENT_`, `ACCESS_TOKEN_`, `PKCS11_`, `AS_`, `GATEWAY_`, `CLI_`).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export type KeyboundErrorCode = `ERR_DPOP_${string}`

/**
 * Stable codes of the errors thrown by `@keybound/core` (consumers declare their own).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export type DPoPErrorCode =
  | 'ERR_DPOP_INVALID_ARGUMENT'
  | 'ERR_DPOP_PROOF_MALFORMED'
  | 'ERR_DPOP_HEADER_INVALID'
  | 'ERR_DPOP_SIGNATURE_INVALID'
  | 'ERR_DPOP_CLAIM_INVALID'
  | 'ERR_DPOP_CLAIM_MISMATCH'
  | 'ERR_DPOP_IAT_OUT_OF_WINDOW'
  | 'ERR_DPOP_KEY_BINDING_MISMATCH'
  | 'ERR_DPOP_NONCE_REQUIRED'
  | 'ERR_DPOP_REPLAYED'
  | 'ERR_DPOP_REPLAY_STORE_UNAVAILABLE'
  | 'ERR_DPOP_KEY_UNSUPPORTED'

/**
 * What every Keybound error may carry besides its message (never secrets).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export interface KeyboundErrorOptions {
  /** A stable identifier of why, within the code: a fixed word or two, e.g. `missing`, `stale`. */
  reason?: string
  /** Values that help a human fix the problem (no tokens, no proofs, no private material). */
  details?: Record<string, unknown>
  /** The underlying error, kept for debugging. */
  cause?: unknown
}

/**
 * The root of every Keybound error. Catch this one class to catch any failure of any Keybound
 * package; switch on `code` to tell them apart. Each subclass sets a static `code`, which the
 * constructor copies onto the instance.
 *
 * @example
 * ```ts
 * try { await verifyProof(proof, request, options) }
 * catch (error) { if (error instanceof KeyboundError) console.log(error.code, error.reason) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export abstract class KeyboundError extends Error {
  /** The stable code of this error. */
  readonly code: KeyboundErrorCode
  /** A stable identifier of why, when there is one (never a value). */
  readonly reason?: string
  /** Extra values that help fix the problem. */
  readonly details?: Record<string, unknown>

  constructor(message: string, options: KeyboundErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = (new.target as unknown as { code: KeyboundErrorCode }).code
    if (options.reason !== undefined) this.reason = options.reason
    if (options.details !== undefined) this.details = options.details
  }
}

/**
 * Structured details that travel with a core error (never secrets).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export interface DPoPErrorDetails extends KeyboundErrorOptions {
  /** The proof field (JOSE header parameter or claim) the failure is about, e.g. `htu`. */
  claim?: string
}

/**
 * Base class of the errors of `@keybound/core` (a proof, a key, a nonce, a replay store).
 *
 * @example
 * ```ts
 * try { await verifyProof(proof, request, options) }
 * catch (error) { if (error instanceof DPoPError) console.log(error.code, error.claim) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export class DPoPError extends KeyboundError {
  /** The stable code of this error class. */
  static code: DPoPErrorCode = 'ERR_DPOP_INVALID_ARGUMENT'
  /** The stable code of this error. */
  declare readonly code: DPoPErrorCode
  /** The proof field the failure concerns, when there is one. */
  readonly claim?: string

  constructor(message: string, extra: DPoPErrorDetails = {}) {
    super(message, extra)
    if (extra.claim !== undefined) this.claim = extra.claim
  }
}

/**
 * A function was called with arguments it cannot work with (a programming error). Every Keybound
 * package throws this one class for bad arguments, worded like `<name> must be <what>`
 * where it names one argument.
 */
export class InvalidArgument extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_INVALID_ARGUMENT'
}

/** The proof is not a single well-formed compact JWS with JSON header and payload (§4.3 items 1–2). */
export class ProofMalformed extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_PROOF_MALFORMED'
}

/** A JOSE header parameter (`typ`, `alg`, `jwk`, `crit`) is missing or not acceptable (§4.3 items 4, 5, 7). */
export class ProofHeaderInvalid extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_HEADER_INVALID'
}

/** The signature does not verify with the public key in the `jwk` header (§4.3 item 6). */
export class ProofSignatureInvalid extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_SIGNATURE_INVALID'
}

/** A required claim is missing or has the wrong type (§4.3 item 3). */
export class ProofClaimInvalid extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_CLAIM_INVALID'
}

/** `htm`, `htu` or `ath` does not match the request (§4.3 items 8, 9, 12). */
export class ProofClaimMismatch extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_CLAIM_MISMATCH'
}

/** `iat` is outside the acceptance window (§4.3 item 11, §11.1). */
export class ProofTimeInvalid extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_IAT_OUT_OF_WINDOW'
}

/** The proof's key is not the key the access token is bound to (§4.3 item 12, §6). */
export class KeyBindingMismatch extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_KEY_BINDING_MISMATCH'
}

/** The server requires a nonce and the proof has none, or one that is not (or no longer) valid (§8, §9). */
export class NonceRequired extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_NONCE_REQUIRED'
}

/** This proof (`jkt`, `jti`) was already used (§11.1). */
export class ProofReplayed extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_REPLAYED'
}

/** The replay store cannot answer (unreachable or full): the request fails closed (§11.1). */
export class ReplayStoreUnavailable extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_REPLAY_STORE_UNAVAILABLE'
}

/** The key or algorithm is not supported for DPoP (§4.2, RFC 7518). */
export class KeyUnsupported extends DPoPError {
  static override code: DPoPErrorCode = 'ERR_DPOP_KEY_UNSUPPORTED'
}
