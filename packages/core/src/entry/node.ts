/**
 * `@keybound/core` on `node:crypto` (chosen by the `node` export condition).
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 * @module @keybound/core/node
 */
import { nodeBackend } from '../backends/node.js'
import { createCore } from '../core.js'

export * from '../shared-exports.js'

/** The API bound to the `node` backend. */
export const core = createCore(nodeBackend)
export const {
  createProof,
  verifyProof,
  calculateJwkThumbprint,
  calculateAth,
  generateKeyPair,
  importKeyPair,
  createNonceSource,
} = core
