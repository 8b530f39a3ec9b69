/**
 * The one error family of Keybound. Every failure that leaves `@keybound/core` is a
 * {@link DPoPError} with a stable `code` (on the class and on the instance) and, where it
 * concerns a field of the proof, the field's name in `claim` and a short machine-friendly
 * `reason`. Messages name the RFC field; they never contain a token or a proof.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 */

/** Stable codes of the errors thrown by Keybound. */
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
  // Raised by @keybound/server's access-token validators, kept in the one error family.
  | 'ERR_DPOP_ACCESS_TOKEN_INVALID'
  | 'ERR_DPOP_ACCESS_TOKEN_UNAVAILABLE'
  // Raised by @keybound/server's adapters when an application asks to render rejections itself.
  | 'ERR_DPOP_REQUEST_REJECTED'
  // Raised by @keybound/pkcs11's hardware signer, kept in the one error family so createProof
  // passes them through unchanged.
  | 'ERR_DPOP_PKCS11_URI_INVALID'
  | 'ERR_DPOP_PKCS11_MODULE_UNAVAILABLE'
  | 'ERR_DPOP_PKCS11_PIN_INVALID'
  | 'ERR_DPOP_PKCS11_KEY_NOT_FOUND'
  | 'ERR_DPOP_PKCS11_KEY_REJECTED'
  | 'ERR_DPOP_PKCS11_MECHANISM_UNSUPPORTED'
  | 'ERR_DPOP_PKCS11_TOKEN_UNAVAILABLE'
  | 'ERR_DPOP_PKCS11_FAILED'

/** Structured details that travel with an error (never secrets). */
export interface DPoPErrorDetails {
  /** The proof field (JOSE header parameter or claim) the failure is about, e.g. `htu`. */
  claim?: string
  /** A short, stable, machine-friendly reason, e.g. `missing`, `stale`, `private key`. */
  reason?: string
  /** Values that help a human fix the problem (no tokens, no proofs, no private material). */
  details?: Record<string, unknown>
  /** The underlying error, kept for debugging. */
  cause?: unknown
}

/**
 * Base class of every Keybound error.
 *
 * @example
 * ```ts
 * try { await verifyProof(proof, request, options) }
 * catch (error) { if (error instanceof DPoPError) console.log(error.code, error.claim) }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export class DPoPError extends Error {
  /** The stable code of this error class. */
  static code: DPoPErrorCode = 'ERR_DPOP_INVALID_ARGUMENT'
  /** The stable code of this error. */
  readonly code: DPoPErrorCode
  /** The proof field the failure concerns, when there is one. */
  readonly claim?: string
  /** A short machine-friendly reason. */
  readonly reason?: string
  /** Extra values that help fix the problem. */
  readonly details?: Record<string, unknown>

  constructor(message: string, extra: DPoPErrorDetails = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause })
    this.name = new.target.name
    this.code = (new.target as typeof DPoPError).code
    if (extra.claim !== undefined) this.claim = extra.claim
    if (extra.reason !== undefined) this.reason = extra.reason
    if (extra.details !== undefined) this.details = extra.details
  }
}

/** A function was called with arguments it cannot work with (a programming error). */
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
