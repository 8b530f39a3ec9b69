/**
 * The replay-store contract (RFC 9449 §11.1). Stores record proof identifiers for as long as
 * a proof could still be accepted, and answer "first time?" atomically, so that two servers
 * sharing one store accept a proof once.
 * @packageDocumentation
 */

/**
 * Records used proofs.
 *
 * @example
 * ```ts
 * const store: ReplayStore = new MemoryReplayStore()
 * await store.checkAndRecord(jkt, jti, 70_000) // true the first time, false after
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export interface ReplayStore {
  /**
   * Atomically records `(jkt, jti)` for `ttlMs` milliseconds. Returns `true` when the pair was
   * not recorded yet (the proof is fresh) and `false` when it was (a replay). Throws
   * `ReplayStoreUnavailable` when it cannot answer (unreachable, full): callers fail closed.
   */
  checkAndRecord(jkt: string, jti: string, ttlMs: number): boolean | Promise<boolean>
}
