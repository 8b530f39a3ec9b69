/**
 * `@keybound/core` on WebCrypto (the default outside Node).
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 * @module @keybound/core
 */
import { webcryptoBackend } from '../backends/webcrypto.js'
import { createCore } from '../core.js'

export * from '../shared-exports.js'

/** The API bound to the `webcrypto` backend. */
export const core = createCore(webcryptoBackend)
export const {
  createProof,
  verifyProof,
  calculateJwkThumbprint,
  calculateAth,
  generateKeyPair,
  importKeyPair,
  createNonceSource,
} = core
