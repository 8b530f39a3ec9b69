/**
 * Shared types of `@keybound/core`.
 * @packageDocumentation
 */
import type { ReplayStore } from './replay/replay-store.js'

/** JWS algorithms Keybound accepts for DPoP proofs (RFC 9449 §4.2, RFC 7518 §3.1, RFC 8037, RFC 9864). */
export type DPoPAlgorithm =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'EdDSA'
  | 'Ed25519'

/** A public JSON Web Key as it appears in a proof's `jwk` header (RFC 7517). */
export interface PublicJwk {
  kty: string
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
  [member: string]: unknown
}

/** A private JSON Web Key (RFC 7517, RFC 7518 §6, RFC 8037). */
export interface PrivateJwk extends PublicJwk {
  d: string
}

/**
 * Anything that can sign a proof: the public JWK and a `sign` function over the JWS signing
 * input. Use it to keep the private key in an HSM, a cloud KMS or a device keystore.
 * The signature must be the JWS form (for ECDSA the 64/96/132-byte `R||S`, RFC 7518 §3.4).
 */
export interface ProofSigner {
  readonly alg: DPoPAlgorithm
  readonly publicJwk: PublicJwk
  sign(signingInput: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** A key pair for DPoP: WebCrypto keys plus the public JWK and its thumbprint. */
export interface DPoPKeyPair {
  readonly alg: DPoPAlgorithm
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly publicJwk: PublicJwk
  /** RFC 7638 SHA-256 thumbprint of `publicJwk`, as used in `cnf.jkt`. */
  readonly jkt: string
}

/** What `createProof` needs to know about the request (RFC 9449 §4.2). */
export interface CreateProofOptions {
  /** HTTP method, sent as-is in `htm` (methods are case-sensitive). */
  htm: string
  /** Target URI; query and fragment are stripped before it goes into `htu`. */
  htu: string | URL
  /** The access token the request carries; adds `ath`. Leave out at the token endpoint. */
  accessToken?: string | undefined
  /** The most recent `DPoP-Nonce` this server sent. */
  nonce?: string | undefined
  /** Extra payload claims (they cannot override the DPoP claims). */
  claims?: Record<string, unknown> | undefined
  /** Extra JOSE header parameters (they cannot override `typ`, `alg`, `jwk`). */
  header?: Record<string, unknown> | undefined
  /** Creation time in seconds; defaults to the current time. */
  iat?: number | undefined
  /** Proof identifier; defaults to 128 random bits, base64url. */
  jti?: string | undefined
}

/** The request a proof is checked against. */
export interface ProofRequest {
  method: string
  /** The URL the server was reached at, from its configured public base URL (RFC 9449 §4.3). */
  url: string | URL
}

/**
 * Outcome of a nonce check: `current` is fine, `previous` is fine but should be rotated.
 * `expiresAt` is when the nonce stops being accepted and `issuedAt` the earliest time it can
 * have been issued (both in milliseconds); `issuedAt` bounds how old a plausible `iat` can be.
 */
export type NonceCheckResult =
  { valid: false } | { valid: true; rotate: boolean; expiresAt: number; issuedAt?: number }

/** Validates nonces this server issued (RFC 9449 §8, §9). */
export interface NonceVerifier {
  checkNonce(nonce: string, now: number): NonceCheckResult | Promise<NonceCheckResult>
}

/** Options of `verifyProof`. Times are in seconds unless named `…Ms`. */
export interface VerifyProofOptions {
  /**
   * Where used proofs are recorded (keyed by `jkt` and `jti`). Pass `false` to skip the replay
   * check deliberately; there is no silent default.
   */
  replayStore: ReplayStore | false
  /** The access token sent with the request: `ath` is then required and must match (§4.3 item 12). */
  accessToken?: string | undefined
  /**
   * The `ath` of `accessToken` when the caller computed it already (base64url SHA-256, what
   * `calculateAth` returns), so the token is not hashed twice. Ignored without `accessToken`.
   */
  accessTokenHash?: string | undefined
  /** The thumbprint the access token is bound to (`cnf.jkt`); the proof's key must match. */
  expectedJkt?: string | undefined
  /**
   * Asked for the thumbprint the access token is bound to only once the proof passed every check
   * that does not depend on the token's validation (syntax, signature, `htm`, `htu`, `ath`,
   * `iat`, nonce), just before the key binding and the replay checks. Use it instead of
   * `expectedJkt` when learning the binding costs something, such as an introspection call:
   * a junk token with an unsound proof then costs nothing. A rejection ends verification: a
   * `DPoPError` is passed on as it is, anything else becomes `ProofMalformed`. An answer that
   * is not a string refuses the proof with `KeyBindingMismatch` (reason `no bound key`): a
   * proof with no key to bind to must not pass as bound.
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
   */
  resolveExpectedJkt?: (() => string | PromiseLike<string>) | undefined
  /** Accepted `alg` values; defaults to every algorithm Keybound supports. */
  algorithms?: readonly string[] | undefined
  /** How old `iat` may be (default 60 s). */
  maxAge?: number | undefined
  /** How far in the future `iat` may be (default 10 s). */
  clockTolerance?: number | undefined
  /**
   * Check the `iat` window (`maxAge`, `clockTolerance`) even when a valid stateless nonce dates
   * the proof (default `false`: the nonce establishes freshness, RFC 9449 §4.3 item 11, so a
   * client with a wrong clock recovers through `use_dpop_nonce`).
   */
  requireIat?: boolean | undefined
  /**
   * How far a client's clock may be off when a valid stateless nonce dates the proof and
   * `requireIat` is off (default 86,400 s, one day: a clock set in the wrong time zone). `iat`
   * must then lie between the nonce's issue time minus this and now plus this; a negative or
   * absurd `iat` (`0`, `1e300`) is refused with `ProofTimeInvalid`, reason `implausible`.
   */
  maxClockSkew?: number | undefined
  /** Current time in milliseconds; defaults to `Date.now`. */
  now?: (() => number) | undefined
  /**
   * Nonce policy: a `NonceVerifier` (stateless nonces) or the one exact nonce expected. When
   * set, a proof without a valid `nonce` fails with `NonceRequired`, and a valid nonce also
   * establishes the proof's freshness (§4.3 item 11), so clients with wrong clocks recover.
   */
  nonce?: NonceVerifier | string | undefined
  /** Accept `http:` in `htu` for hosts other than loopback (never do this in production; §2). */
  allowInsecureHttp?: boolean | undefined
  /** Maximum proof length in characters, checked before anything is parsed (default 8192). */
  maxProofLength?: number | undefined
  /**
   * Check the signature off the calling thread (default `false`). On the `node` backend the
   * check then runs on libuv's thread pool, so a busy server's event loop keeps parsing and
   * answering other requests meanwhile; one proof alone takes a little longer (a thread round
   * trip). The `webcrypto` backend always checks off-thread, whatever this says.
   */
  offloadSignature?: boolean | undefined
}

/** A proof that passed every check. */
export interface VerifiedProof {
  header: Record<string, unknown> & { typ: string; alg: DPoPAlgorithm; jwk: PublicJwk }
  claims: Record<string, unknown> & { jti: string; htm: string; htu: string; iat: number }
  /** RFC 7638 thumbprint of the proof key. */
  jkt: string
  /** True when the nonce was valid but should be replaced by a fresh one (§8.2). */
  rotateNonce: boolean
}
