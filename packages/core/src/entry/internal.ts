/**
 * `@keybound/core/internal`: the rules Keybound's own packages share, so none keeps a copy.
 * The claim checks, the defaults, the algorithm table, the URL helpers and the wording of argument
 * errors. Outside semver: any
 * release may change or remove any of it. Applications use the main entry point instead.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 * @module @keybound/core/internal
 */
export {
  DEFAULT_CLOCK_TOLERANCE,
  DEFAULT_MAX_AGE,
  DEFAULT_MAX_CLOCK_SKEW,
  DEFAULT_MAX_PROOF_LENGTH,
} from '../defaults.js'
export { issuedAtProblem, isBeforeExpiry, isNotBeforeReached } from '../claims.js'
export { SUPPORTED_ALGORITHMS, findAlgorithm, type AlgorithmSpec } from '../algorithms.js'
export { signParamsOf as webCryptoSignParams } from '../backends/webcrypto.js'
export { normalizeHtu, stripQueryAndFragment, isLoopbackHost } from '../htu.js'
export { invalidArgument } from '../lib/arguments.js'
export { NQCHAR_TOKEN } from '../lib/nqchar.js'
