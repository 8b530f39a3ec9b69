/**
 * Both crypto backends, so that every suite runs the same checks on `node:crypto` and on
 * WebCrypto (issue: "both run the same test suite").
 */
import * as nodeCore from '@keybound/core/node'
import * as webcryptoCore from '@keybound/core/webcrypto'

export type CoreModule = typeof nodeCore

export const backends: ReadonlyArray<{ name: 'node' | 'webcrypto'; core: CoreModule }> = [
  { name: 'node', core: nodeCore },
  { name: 'webcrypto', core: webcryptoCore as CoreModule },
]
