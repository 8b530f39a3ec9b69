/**
 * A small least-recently-used map with a fixed capacity. It bounds memory that grows with
 * attacker-chosen input (distinct proof headers, distinct keys): the oldest entry goes first.
 */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>()
  // The most recently used entry: a repeated hit on it (one client in a row) needs neither a
  // lookup nor a re-insertion.
  private newest: { key: K; value: V } | undefined

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const newest = this.newest
    if (newest !== undefined && newest.key === key) return newest.value
    const value = this.entries.get(key)
    if (value !== undefined) {
      // Re-insert so that Map's insertion order doubles as recency order.
      this.entries.delete(key)
      this.entries.set(key, value)
      this.newest = { key, value }
    }
    return value
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return
    this.entries.delete(key)
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    this.entries.set(key, value)
    this.newest = { key, value }
  }

  get size(): number {
    return this.entries.size
  }

  clear(): void {
    this.entries.clear()
    this.newest = undefined
  }
}
