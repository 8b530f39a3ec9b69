/**
 * Proof verification: every check of RFC 9449 §4.3 plus Keybound's decisions on its open points
 * (docs/requirements.md, D1–D15). The order
 * is chosen for cost and for useful errors: cheap syntax first, the signature before anything
 * that trusts the payload, the nonce before the clock (so a client with a wrong clock is told
 * to use a nonce), the key binding after everything that does not need the access token's
 * validation (so a junk token costs no introspection), and the replay store last, so that a
 * rejected proof never uses up its `jti`.
 * @packageDocumentation
 */
import { findAlgorithm, SUPPORTED_ALGORITHMS, type AlgorithmSpec } from './algorithms.js'
import type { CryptoBackend, VerifyKey } from './backends/backend.js'
import { issuedAtProblem } from './claims.js'
import {
  DEFAULT_CLOCK_TOLERANCE,
  DEFAULT_MAX_AGE,
  DEFAULT_MAX_CLOCK_SKEW,
  DEFAULT_MAX_PROOF_LENGTH,
} from './defaults.js'
import {
  DPoPError,
  KeyBindingMismatch,
  NonceRequired,
  ProofClaimInvalid,
  ProofClaimMismatch,
  ProofHeaderInvalid,
  ProofMalformed,
  ProofReplayed,
  ProofSignatureInvalid,
  ProofTimeInvalid,
  ReplayStoreUnavailable,
} from './errors.js'
import { isLoopbackUri, normalizeHtu, stripQueryAndFragment } from './htu.js'
import type { BoundedCache } from './lib/bounded-cache.js'
import { invalidArgument } from './lib/arguments.js'
import { decodeBase64urlPortable } from './lib/base64url.js'
import { checkProofJwk } from './lib/jwk-checks.js'
import { parseStrictJson, StrictJsonError } from './lib/strict-json.js'
import { athOf, thumbprintWith } from './thumbprint.js'
import type { PublicJwk, ProofRequest, VerifiedProof, VerifyProofOptions } from './types.js'

/** What is known about a proof header once it passed every check; cached per encoded header. */
export interface VerifiedHeader {
  readonly header: VerifiedProof['header']
  readonly spec: AlgorithmSpec
  readonly jkt: string
  readonly key: VerifyKey
  /** Exact signature length in bytes. */
  readonly signatureLength: number
}

/** The per-backend cache of verified headers. */
export type HeaderCache = BoundedCache<string, VerifiedHeader>

const MAX_JTI_LENGTH = 512
const ACCEPTED_TYP = new Set(['dpop+jwt', 'application/dpop+jwt'])

/** The part of a compact JWS a malformation is in, reported in `details.segment`. */
type Segment = 'compact' | 'header' | 'payload' | 'signature'

// `reason` is a stable identifier a program can switch on; the segment and any value go in
// `details`, and only the message is a sentence.
function malformed(
  problem: string,
  reason: string,
  details: { segment: Segment } & Record<string, unknown>,
  cause?: unknown,
): never {
  throw new ProofMalformed(`DPoP proof is not a well-formed JWT: ${problem}`, {
    reason,
    details,
    ...(cause === undefined ? {} : { cause }),
  })
}

function decodeSegmentText(
  backend: CryptoBackend,
  segment: string,
  what: 'header' | 'payload',
): string {
  if (segment.length === 0) malformed(`${what} is empty`, 'empty', { segment: what })
  let text: string | undefined
  try {
    text = backend.decodeBase64urlText(segment)
  } catch (error) {
    malformed(`${what} is not UTF-8`, 'not utf-8', { segment: what }, error)
  }
  if (text === undefined)
    malformed(`${what} is not canonical base64url`, 'not base64url', { segment: what })
  return text
}

function decodeJsonSegment(
  backend: CryptoBackend,
  segment: string,
  what: 'header' | 'payload',
): Record<string, unknown> {
  const text = decodeSegmentText(backend, segment, what)
  let value: unknown
  try {
    value = parseStrictJson(text)
  } catch (error) {
    const problem = error instanceof StrictJsonError ? error.message : undefined
    malformed(
      problem === undefined ? `${what} is not JSON` : `${what} JSON: ${problem}`,
      'not json',
      problem === undefined ? { segment: what } : { segment: what, problem },
      error,
    )
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    malformed(`${what} is not a JSON object`, 'not an object', { segment: what })
  return value as Record<string, unknown>
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const member of Object.values(value)) deepFreeze(member)
    Object.freeze(value)
  }
  return value
}

function checkHeaderParameters(header: Record<string, unknown>): AlgorithmSpec {
  if (typeof header.typ !== 'string' || !ACCEPTED_TYP.has(header.typ.toLowerCase())) {
    throw new ProofHeaderInvalid('"typ" (Type) header parameter must be dpop+jwt', {
      claim: 'typ',
      reason: header.typ === undefined ? 'missing' : 'unexpected value',
    })
  }
  if (header.crit !== undefined) {
    throw new ProofHeaderInvalid(
      '"crit" (Critical) header parameter names an unsupported extension',
      {
        claim: 'crit',
        reason: 'unsupported',
      },
    )
  }
  const spec = findAlgorithm(header.alg)
  if (spec === undefined) {
    throw new ProofHeaderInvalid(
      '"alg" (Algorithm) header parameter is not an accepted asymmetric algorithm',
      {
        claim: 'alg',
        reason: header.alg === undefined ? 'missing' : 'unsupported',
      },
    )
  }
  return spec
}

function signatureLengthOf(spec: AlgorithmSpec, jwk: PublicJwk): number {
  return spec.signatureLength ?? decodeBase64urlPortable(jwk.n!).length
}

// Only called on a cache miss: a cached header costs no promise at all.
async function readHeader(
  backend: CryptoBackend,
  cache: HeaderCache,
  segment: string,
): Promise<VerifiedHeader> {
  const header = decodeJsonSegment(backend, segment, 'header')
  const spec = checkHeaderParameters(header)
  checkProofJwk(header.jwk, spec)
  const jwk = header.jwk
  let key: VerifyKey
  try {
    key = await backend.importVerifyKey(jwk, spec)
  } catch (error) {
    throw new ProofHeaderInvalid(
      '"jwk" (JSON Web Key) header parameter is not a usable public key',
      {
        claim: 'jwk',
        reason: 'unusable key',
        cause: error,
      },
    )
  }
  const entry: VerifiedHeader = {
    header: deepFreeze(header) as VerifiedProof['header'],
    spec,
    jkt: await thumbprintWith(backend, jwk),
    key,
    signatureLength: signatureLengthOf(spec, jwk),
  }
  cache.set(segment, entry)
  return entry
}

/** A compact JWS cut at its dots. */
interface CompactParts {
  readonly proof: string
  readonly header: string
  readonly payload: string
  readonly signature: string
  /** Length of the signing input (`header.payload`). */
  readonly signedLength: number
}

function splitCompact(proof: unknown, maxLength: number): CompactParts {
  if (typeof proof !== 'string' || proof.length === 0)
    malformed('missing', 'missing', { segment: 'compact' })
  if (proof.length > maxLength) {
    malformed(`longer than ${maxLength} characters`, 'too long', { segment: 'compact', maxLength })
  }
  const first = proof.indexOf('.')
  const second = first === -1 ? -1 : proof.indexOf('.', first + 1)
  if (second === -1 || proof.indexOf('.', second + 1) !== -1)
    malformed('not three dot-separated parts', 'not compact', { segment: 'compact' })
  return {
    proof,
    header: proof.slice(0, first),
    payload: proof.slice(first + 1, second),
    signature: proof.slice(second + 1),
    signedLength: second,
  }
}

// Takes the value, not the claims object: each caller reads its claim by a fixed name, a
// monomorphic load, where `claims[name]` in one shared helper was a megamorphic keyed load.
function requireClaim(value: unknown, name: string, type: 'string' | 'number'): void {
  if (value === undefined)
    throw new ProofClaimInvalid(`"${name}" claim is missing`, { claim: name, reason: 'missing' })
  const ok =
    type === 'number'
      ? typeof value === 'number' && Number.isFinite(value)
      : typeof value === 'string' && value.length > 0
  if (!ok)
    throw new ProofClaimInvalid(
      `"${name}" claim must be a ${type === 'number' ? 'NumericDate' : 'non-empty string'}`,
      { claim: name, reason: 'invalid type' },
    )
}

function checkRequiredClaims(claims: Record<string, unknown>): void {
  requireClaim(claims.jti, 'jti', 'string')
  requireClaim(claims.htm, 'htm', 'string')
  requireClaim(claims.htu, 'htu', 'string')
  requireClaim(claims.iat, 'iat', 'number')
  if ((claims.jti as string).length > MAX_JTI_LENGTH) {
    throw new ProofClaimInvalid('"jti" (JWT ID) claim is unreasonably long', {
      claim: 'jti',
      reason: 'too long',
    })
  }
}

// Plain http only on loopback hosts, unless the caller allowed it (RFC 9449 §2: TLS).
function isAllowedScheme(uri: string, allowInsecureHttp: boolean): boolean {
  if (uri.startsWith('https://')) return true
  return uri.startsWith('http://') && (allowInsecureHttp || isLoopbackUri(uri))
}

function checkHtu(htu: string, requestUrl: string | URL, allowInsecureHttp: boolean): void {
  const expected = stripQueryAndFragment(requestUrl)
  // Fast path: the exact string the server expects needs no normalization, only the scheme rule.
  if (htu === expected && isAllowedScheme(htu, allowInsecureHttp)) return
  const normalized = normalizeHtu(htu)
  if (normalized === undefined) {
    throw new ProofClaimInvalid('"htu" (HTTP URI) claim is not an absolute http(s) URI', {
      claim: 'htu',
      reason: 'invalid',
    })
  }
  if (!isAllowedScheme(normalized, allowInsecureHttp)) {
    throw new ProofClaimInvalid('"htu" (HTTP URI) claim uses plain http outside loopback', {
      claim: 'htu',
      reason: 'insecure scheme',
    })
  }
  if (htu !== expected && normalized !== normalizeHtu(expected)) {
    throw new ProofClaimMismatch('"htu" (HTTP URI) claim mismatch', {
      claim: 'htu',
      reason: 'mismatch',
      details: { htu: stripQueryAndFragment(htu), expected },
    })
  }
}

/** What a valid nonce says about a proof: nothing (an exact nonce), or its lifetime. */
interface NonceDating {
  readonly rotate: boolean
  readonly expiresAt?: number
  readonly issuedAt?: number
}

async function checkNonce(
  claims: Record<string, unknown>,
  policy: NonNullable<VerifyProofOptions['nonce']>,
  nowMs: number,
): Promise<NonceDating> {
  const nonce = claims.nonce
  if (nonce === undefined)
    throw new NonceRequired('"nonce" claim is required', { claim: 'nonce', reason: 'missing' })
  if (typeof nonce === 'string') {
    if (typeof policy === 'string') {
      if (nonce === policy) return { rotate: false }
    } else {
      const result = await policy.checkNonce(nonce, nowMs)
      if (result.valid) return result
    }
  }
  throw new NonceRequired('"nonce" claim is not a current server nonce', {
    claim: 'nonce',
    reason: 'mismatch',
  })
}

function checkIssuedAt(iat: number, nowSeconds: number, maxAge: number, tolerance: number): void {
  const reason = issuedAtProblem(iat, nowSeconds, maxAge, tolerance)
  if (reason === undefined) return
  throw new ProofTimeInvalid(
    `"iat" (Issued At) claim is ${reason === 'stale' ? 'too old' : 'in the future'}`,
    {
      claim: 'iat',
      reason,
      details: { iat, now: nowSeconds, maxAge, clockTolerance: tolerance },
    },
  )
}

// With a valid stateless nonce the nonce dates the proof, but `iat` must still be a time the
// client could have written: not before the nonce was issued, not after now, each give or take
// the skew allowed for a wrong clock. Written so that a NaN anywhere refuses (fails closed).
function checkPlausibleIat(
  iat: number,
  nowMs: number,
  earliestMs: number,
  maxClockSkew: number,
): void {
  const earliest = earliestMs / 1000 - maxClockSkew
  const latest = nowMs / 1000 + maxClockSkew
  if (iat >= 0 && iat >= earliest && iat <= latest) return
  throw new ProofTimeInvalid('"iat" (Issued At) claim is not a plausible time for this proof', {
    claim: 'iat',
    reason: 'implausible',
    details: { iat, now: Math.floor(nowMs / 1000), maxClockSkew },
  })
}

// The proof is accepted until second `iat + maxAge` ends on this server's clock. Another
// instance sharing the store may run up to `clockTolerance` behind and accept it that much
// later, so the entry lives until second `iat + maxAge + clockTolerance` ends. Derived from
// `iat`, not from now: a proof dated at the future edge outlives a now-based lifetime.
function replayLifetimeMs(iat: number, nowMs: number, maxAge: number, tolerance: number): number {
  return (iat + maxAge + tolerance + 1) * 1000 - nowMs
}

function storeFailure(error: unknown): never {
  if (error instanceof DPoPError) throw error
  throw new ReplayStoreUnavailable('replay store is unavailable', {
    reason: 'unreachable',
    cause: error,
  })
}

/** A value, or a promise of one: what each step of verification hands to the next. */
type Settled<T> = T | Promise<T>

function isPromise<T>(value: Settled<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function'
}

// Only `true` means fresh: a store that answers anything but a boolean is broken, not permissive.
function checkFresh(fresh: unknown): void {
  if (fresh === true) return
  if (fresh === false)
    throw new ProofReplayed('DPoP proof was already used ("jti" replay)', {
      claim: 'jti',
      reason: 'replay',
    })
  throw new ReplayStoreUnavailable('replay store gave no yes-or-no answer', {
    reason: 'invalid answer',
  })
}

async function settleUse(pending: PromiseLike<unknown>): Promise<void> {
  let fresh: unknown
  try {
    fresh = await pending
  } catch (error) {
    storeFailure(error)
  }
  checkFresh(fresh)
}

// Synchronous stores (the memory store) are answered without a promise; async ones are awaited.
function recordUse(
  options: VerifyProofOptions,
  jkt: string,
  jti: string,
  ttlMs: number,
): Promise<void> | undefined {
  if (options.replayStore === false) return undefined
  let answer: unknown
  try {
    answer = options.replayStore.checkAndRecord(jkt, jti, ttlMs)
  } catch (error) {
    storeFailure(error)
  }
  if (!isPromise(answer as Settled<unknown>)) {
    checkFresh(answer)
    return undefined
  }
  return settleUse(answer as PromiseLike<unknown>)
}

function checkOptions(request: ProofRequest, options: VerifyProofOptions): void {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object')
  const store = options.replayStore
  if (
    store !== false &&
    (typeof store !== 'object' || store === null || typeof store.checkAndRecord !== 'function')
  ) {
    throw invalidArgument('replayStore', 'a ReplayStore or false')
  }
  if (typeof request !== 'object' || request === null)
    throw invalidArgument('request', 'an object with a method and a url')
  if (typeof request.method !== 'string') throw invalidArgument('request.method', 'a string')
  if (typeof request.url !== 'string' && !(request.url instanceof URL))
    throw invalidArgument('request.url', 'a string or a URL')
}

// The pipeline below runs synchronously whenever it can (a cached header, a synchronous
// signature check, hash and replay store: the node backend's hot path) and continues on a
// promise only where a step really is asynchronous. No async function frame is allocated per
// proof, which keeps verification close to the cost of the bare signature check.

/** What the later steps need to know about one proof. */
interface ProofInProgress {
  readonly backend: CryptoBackend
  readonly request: ProofRequest
  readonly options: VerifyProofOptions
  readonly verified: VerifiedHeader
  readonly claims: Record<string, unknown>
}

function verifyChecked(
  backend: CryptoBackend,
  cache: HeaderCache,
  proof: string,
  request: ProofRequest,
  options: VerifyProofOptions,
): Settled<VerifiedProof> {
  const parts = splitCompact(proof, options.maxProofLength ?? DEFAULT_MAX_PROOF_LENGTH)
  const cached = cache.get(parts.header)
  if (cached !== undefined) return checkSignature(backend, cached, parts, request, options)
  return readHeader(backend, cache, parts.header).then((verified) =>
    checkSignature(backend, verified, parts, request, options),
  )
}

function checkSignature(
  backend: CryptoBackend,
  verified: VerifiedHeader,
  parts: CompactParts,
  request: ProofRequest,
  options: VerifyProofOptions,
): Settled<VerifiedProof> {
  const algorithms = options.algorithms ?? SUPPORTED_ALGORITHMS
  if (!algorithms.includes(verified.spec.alg)) {
    throw new ProofHeaderInvalid('"alg" (Algorithm) header parameter is not allowed here', {
      claim: 'alg',
      reason: 'not allowed',
    })
  }
  const claims = decodeJsonSegment(backend, parts.payload, 'payload')
  const signature = backend.decodeSignature(parts.signature)
  if (signature === undefined) {
    malformed('signature is not canonical base64url', 'not base64url', { segment: 'signature' })
  }
  const progress: ProofInProgress = { backend, request, options, verified, claims }
  if (signature.length !== verified.signatureLength) return checkClaims(progress, false)
  const data = backend.signingInputBytes(parts.proof, parts.signedLength)
  let answer: Settled<boolean>
  try {
    answer =
      options.offloadSignature === true && backend.verifyOffThread !== undefined
        ? backend.verifyOffThread(verified.spec, verified.key, data, signature)
        : backend.verify(verified.spec, verified.key, data, signature)
  } catch {
    answer = false
  }
  if (!isPromise(answer)) return checkClaims(progress, answer)
  return answer.then(
    (valid) => checkClaims(progress, valid),
    () => checkClaims(progress, false),
  )
}

function checkClaims(progress: ProofInProgress, valid: boolean): Settled<VerifiedProof> {
  if (valid !== true)
    throw new ProofSignatureInvalid('DPoP proof signature verification failed', {
      reason: 'invalid signature',
    })
  const { backend, claims, request, options } = progress
  checkRequiredClaims(claims)
  if (claims.htm !== request.method) {
    throw new ProofClaimMismatch('"htm" (HTTP Method) claim mismatch', {
      claim: 'htm',
      reason: 'mismatch',
      details: { htm: claims.htm, expected: request.method },
    })
  }
  checkHtu(claims.htu as string, request.url, options.allowInsecureHttp === true)
  if (options.accessToken === undefined) return checkFreshness(progress)
  if (claims.ath === undefined)
    throw new ProofClaimInvalid('"ath" claim is missing', { claim: 'ath', reason: 'missing' })
  const ath = options.accessTokenHash ?? athOf(backend, options.accessToken)
  if (!isPromise(ath)) return checkAth(progress, ath)
  return ath.then((hash) => checkAth(progress, hash))
}

function checkAth(progress: ProofInProgress, ath: string): Settled<VerifiedProof> {
  if (progress.claims.ath !== ath) {
    throw new ProofClaimMismatch('"ath" (access token hash) claim mismatch', {
      claim: 'ath',
      reason: 'mismatch',
    })
  }
  return checkFreshness(progress)
}

function checkFreshness(progress: ProofInProgress): Settled<VerifiedProof> {
  const { options } = progress
  const nowMs = options.now?.() ?? Date.now()
  const maxAge = options.maxAge ?? DEFAULT_MAX_AGE
  const tolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE
  if (options.nonce !== undefined) {
    return checkFreshnessByNonce(progress, options.nonce, { nowMs, maxAge, tolerance })
  }
  const iat = progress.claims.iat as number
  // Whole seconds, like iat itself: a proof made at second T is not stale before T + maxAge ends.
  checkIssuedAt(iat, Math.floor(nowMs / 1000), maxAge, tolerance)
  return checkBinding(progress, replayLifetimeMs(iat, nowMs, maxAge, tolerance), false)
}

async function checkFreshnessByNonce(
  progress: ProofInProgress,
  policy: NonNullable<VerifyProofOptions['nonce']>,
  { nowMs, maxAge, tolerance }: { nowMs: number; maxAge: number; tolerance: number },
): Promise<VerifiedProof> {
  const { claims, options } = progress
  const nonce = await checkNonce(claims, policy, nowMs)
  const iat = claims.iat as number
  // A valid stateless nonce dates the proof (§4.3 item 11); an exact nonce does not, and
  // `requireIat` asks for the iat window whatever the nonce says.
  if (nonce.expiresAt === undefined || options.requireIat === true) {
    checkIssuedAt(iat, Math.floor(nowMs / 1000), maxAge, tolerance)
    return checkBinding(progress, replayLifetimeMs(iat, nowMs, maxAge, tolerance), nonce.rotate)
  }
  // A verifier that does not say when its nonce was issued is taken to date it maxAge back.
  const issuedAt = nonce.issuedAt ?? nowMs - maxAge * 1000
  checkPlausibleIat(iat, nowMs, issuedAt, options.maxClockSkew ?? DEFAULT_MAX_CLOCK_SKEW)
  const ttlMs = Math.max(nonce.expiresAt - nowMs, 0) + tolerance * 1000
  return checkBinding(progress, ttlMs, nonce.rotate)
}

function compareJkt(jkt: string, expected: unknown): void {
  if (expected === jkt) return
  throw new KeyBindingMismatch(
    'DPoP proof key does not match the key the access token is bound to',
    {
      claim: 'jwk',
      reason: typeof expected === 'string' ? 'jkt mismatch' : 'no bound key',
    },
  )
}

function checkBinding(
  progress: ProofInProgress,
  ttlMs: number,
  rotateNonce: boolean,
): Settled<VerifiedProof> {
  const { options, verified } = progress
  if (options.expectedJkt !== undefined) compareJkt(verified.jkt, options.expectedJkt)
  if (options.resolveExpectedJkt === undefined) return recordProof(progress, ttlMs, rotateNonce)
  return resolveBinding(progress, options.resolveExpectedJkt, ttlMs, rotateNonce)
}

// Only reached once everything that does not need the access token's validation has passed.
async function resolveBinding(
  progress: ProofInProgress,
  resolve: NonNullable<VerifyProofOptions['resolveExpectedJkt']>,
  ttlMs: number,
  rotateNonce: boolean,
): Promise<VerifiedProof> {
  compareJkt(progress.verified.jkt, await resolve())
  return recordProof(progress, ttlMs, rotateNonce)
}

function recordProof(
  progress: ProofInProgress,
  ttlMs: number,
  rotateNonce: boolean,
): Settled<VerifiedProof> {
  const { options, verified, claims } = progress
  const result: VerifiedProof = {
    header: verified.header,
    claims: claims as VerifiedProof['claims'],
    jkt: verified.jkt,
    rotateNonce,
  }
  const recording = recordUse(options, verified.jkt, claims.jti as string, ttlMs)
  return recording === undefined ? result : recording.then(() => result)
}

// Anything but a DPoPError (a bug, or hostile input reaching an unexpected path) is reported
// as a malformed proof: only DPoPErrors ever escape.
function asDPoPError(error: unknown): DPoPError {
  if (error instanceof DPoPError) return error
  return new ProofMalformed('DPoP proof could not be processed', {
    reason: 'unexpected input',
    cause: error,
  })
}

function rejectAsDPoPError(error: unknown): never {
  throw asDPoPError(error)
}

/** Verifies a proof (core binds the backend and the key cache for you). Only `DPoPError`s escape. */
export function verifyProofWith(
  backend: CryptoBackend,
  cache: HeaderCache,
  proof: string,
  request: ProofRequest,
  options: VerifyProofOptions,
): Promise<VerifiedProof> {
  try {
    checkOptions(request, options)
    const result = verifyChecked(backend, cache, proof, request, options)
    return isPromise(result) ? result.then(undefined, rejectAsDPoPError) : Promise.resolve(result)
  } catch (error) {
    return Promise.reject(asDPoPError(error))
  }
}
