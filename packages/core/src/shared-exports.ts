/**
 * What every entry point exports besides the backend-bound functions.
 * @packageDocumentation
 */
export * from './errors.js'
export type * from './types.js'
export { SUPPORTED_ALGORITHMS, findAlgorithm, type AlgorithmSpec } from './algorithms.js'
// The WebCrypto parameters of the algorithm table, so other packages sign without a copy of it.
export { signParamsOf as webCryptoSignParams } from './backends/webcrypto.js'
export { normalizeHtu, stripQueryAndFragment, isLoopbackHost } from './htu.js'
export {
  toPublicJwk,
  exportKeyPair,
  type GenerateKeyPairOptions,
  type ImportKeyPairOptions,
} from './keys.js'
export { canonicalThumbprintInput } from './thumbprint.js'
export { encodeBase64urlPortable as encodeBase64url } from './lib/base64url.js'
export type { ReplayStore } from './replay/replay-store.js'
export { MemoryReplayStore, type MemoryReplayStoreOptions } from './replay/memory-replay-store.js'
export type { NonceSource, NonceSourceOptions } from './nonces.js'
export { HEADER_CACHE_SIZE, type KeyboundCore } from './core.js'
