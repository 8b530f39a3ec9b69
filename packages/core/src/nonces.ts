/**
 * Stateless server nonces (RFC 9449 §8, §9): `<step>.<salt>.<mac>` where `mac` is an HMAC over
 * the purpose, the time step and a random salt. Every issued nonce is distinct and
 * unpredictable, any instance with the same secret can check it without shared state, nonces
 * from the current and the previous step are accepted, and the purpose (`as`, `rs`, or your
 * own) keeps an authorization server's nonces from working at a resource server.
 * @packageDocumentation
 */
import type { CryptoBackend } from './backends/backend.js'
import { invalidArgument } from './lib/arguments.js'
import type { NonceCheckResult, NonceVerifier } from './types.js'

/** Options of a stateless nonce source. */
export interface NonceSourceOptions {
  /** Shared secret, at least 32 bytes (a string is taken as UTF-8). The same on every instance. */
  secret: Uint8Array | string
  /** What the nonces are for; nonces of one purpose fail for another (default `rs`). */
  purpose?: string
  /** Length of a time step in seconds (default 60): a nonce lives one to two steps. */
  stepSeconds?: number
  /** Current time in milliseconds; defaults to `Date.now`. */
  now?: () => number
}

/** Issues and checks stateless nonces; pass it as `nonce` to `verifyProof`. */
export interface NonceSource extends NonceVerifier {
  /** A fresh nonce for the current step (`DPoP-Nonce` value, §8.1 `NQCHAR` only). */
  issueNonce(): Promise<string>
  checkNonce(nonce: string, now?: number): Promise<NonceCheckResult>
}

const NONCE_SHAPE = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{11})\.([A-Za-z0-9_-]{22})$/
const encoder = new TextEncoder()

function timingSafeEqualText(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/** Builds a stateless nonce source on a crypto backend (core binds the backend for you). */
export function createNonceSourceWith(
  backend: CryptoBackend,
  options: NonceSourceOptions,
): NonceSource {
  const secret =
    typeof options.secret === 'string' ? encoder.encode(options.secret) : options.secret
  if (!(secret instanceof Uint8Array) || secret.length < 32) {
    throw invalidArgument('secret', 'at least 32 bytes')
  }
  const purpose = options.purpose ?? 'rs'
  const stepMs = (options.stepSeconds ?? 60) * 1000
  if (!(stepMs >= 1000)) throw invalidArgument('stepSeconds', 'at least 1')
  const clock = options.now ?? Date.now

  const macOf = async (step: string, salt: string): Promise<string> => {
    const input = encoder.encode(`keybound-nonce\u0000${purpose}\u0000${step}\u0000${salt}`)
    return backend.encodeBase64url((await backend.hmacSha256(secret, input)).subarray(0, 16))
  }

  return {
    async issueNonce() {
      const step = Math.floor(clock() / stepMs).toString(36)
      const salt = backend.encodeBase64url(backend.randomBytes(8))
      return `${step}.${salt}.${await macOf(step, salt)}`
    },
    async checkNonce(nonce, now = clock()) {
      const match = typeof nonce === 'string' ? NONCE_SHAPE.exec(nonce) : null
      if (match === null) return { valid: false }
      const [, step, salt, mac] = match as unknown as [string, string, string, string]
      const age = Math.floor(now / stepMs) - parseInt(step, 36)
      if (age !== 0 && age !== 1) return { valid: false }
      if (!timingSafeEqualText(mac, await macOf(step, salt))) return { valid: false }
      const issuedStep = parseInt(step, 36)
      return {
        valid: true,
        rotate: age === 1,
        expiresAt: (issuedStep + 2) * stepMs,
        issuedAt: issuedStep * stepMs,
      }
    },
  }
}
