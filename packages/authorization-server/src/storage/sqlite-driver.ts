/**
 * Which better-sqlite3 build to load. Version 12 (raw V8 `ObjectWrap`) aborts the process on
 * Node 24 when a statement is collected outside a JS context (`RemoveEnvironmentCleanupHook`
 * assertion); version 13 (Node-API, prebuilt binaries shipped in the package) fixes that but
 * crashes on Node 20. So Node 22 and later load 13 (installed under the alias
 * `better-sqlite3-node22`), and Node 20 loads 12. Both have the same API.
 */
import { createRequire } from 'node:module'
import type BetterSqlite3 from 'better-sqlite3'

const require = createRequire(import.meta.url)

/** The `Database` constructor of the better-sqlite3 build that is safe on this Node. */
export function loadSqliteDriver(
  nodeVersion: string = process.versions.node,
): typeof BetterSqlite3 {
  const major = Number(nodeVersion.split('.')[0])
  return major >= 22
    ? (require('better-sqlite3-node22') as typeof BetterSqlite3)
    : (require('better-sqlite3') as typeof BetterSqlite3)
}
