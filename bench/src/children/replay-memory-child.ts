/**
 * Child process of the replay-memory suite (started with `--expose-gc`): fills one replay
 * record with `entries` distinct (jkt, jti) pairs and reports the heap growth per entry, measured
 * after full collections. Usage: `node --expose-gc replay-memory-child.js <kind> <entries>`.
 * Prints one JSON object on stdout.
 */
import { randomBytes } from 'node:crypto'
import { MemoryReplayStore } from '@keybound/core/node'

export type StoreKind = 'keybound' | 'map'

export interface ChildReport {
  readonly kind: StoreKind
  readonly entries: number
  readonly heapBefore: number
  readonly heapAfter: number
  readonly bytesPerEntry: number
  readonly insertsPerSec: number
}

const gc = globalThis.gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const kind = process.argv[2] as StoreKind
const entries = Number(process.argv[3] ?? 1_000_000)
if (kind !== 'keybound' && kind !== 'map') throw new Error(`unknown store kind ${kind}`)

const TTL_MS = 70_000
const nowMs = Date.now()
const now = (): number => nowMs
// 1,000 clients: 43-character RFC 7638 thumbprints. jti values are 22 characters (128 bits), made
// on the fly so that only what the store keeps stays on the heap.
const jkts = Array.from({ length: 1000 }, () => randomBytes(32).toString('base64url'))
const RANDOM_CHUNK = 16 * 4096
let random = randomBytes(RANDOM_CHUNK)
let randomOffset = 0
function nextJti(): string {
  if (randomOffset === RANDOM_CHUNK) {
    random = randomBytes(RANDOM_CHUNK)
    randomOffset = 0
  }
  const jti = random.toString('base64url', randomOffset, randomOffset + 16)
  randomOffset += 16
  return jti
}

// The JS heap plus ArrayBuffer memory (where typed arrays keep their bytes, outside the heap).
function settledHeap(): number {
  for (let i = 0; i < 3; i++) gc!()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

const heapBefore = settledHeap()
const store = new MemoryReplayStore({ now, maxEntries: entries })
const map = new Map<string, number>()
const started = performance.now()
if (kind === 'keybound') {
  for (let i = 0; i < entries; i++) {
    if (!store.checkAndRecord(jkts[i % 1000]!, nextJti(), TTL_MS))
      throw new Error('unexpected repeat')
  }
} else {
  for (let i = 0; i < entries; i++) {
    const id = `${jkts[i % 1000]!}:${nextJti()}`
    if (map.has(id)) throw new Error('unexpected repeat')
    map.set(id, nowMs + TTL_MS)
  }
}
const elapsed = performance.now() - started
const heapAfter = settledHeap()
const held = kind === 'keybound' ? store.size : map.size
if (held !== entries) throw new Error(`store holds ${held} entries, expected ${entries}`)

const report: ChildReport = {
  kind,
  entries,
  heapBefore,
  heapAfter,
  bytesPerEntry: (heapAfter - heapBefore) / entries,
  insertsPerSec: (entries * 1000) / elapsed,
}
process.stdout.write(`${JSON.stringify(report)}\n`)
