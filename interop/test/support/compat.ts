/**
 * The compatibility record behind the README table: every interop test is declared through
 * {@link compatSuite}, which runs it as a normal vitest `it` and writes what happened (peer, the
 * peer's version from its own package.json, what was tested, result) to
 * `interop/results/<suite>.json` when the file finishes, if any result differs from the file's
 * (so a run that changes nothing leaves the tracked files alone, on any Node version).
 * `npm run interop:table` turns those files into the table; nothing in it is written by hand.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, it } from 'vitest'

const INTEROP_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const RESULTS = join(INTEROP_ROOT, 'results')

/**
 * `deviation`: the peer departs from RFC 9449 (a MUST/SHOULD, or the letter of a check);
 * `limitation`: the peer skips something the RFC leaves optional (a "can" or MAY) or decides
 * differently where the RFC leaves the choice to the implementation; `keybound-gap`: Keybound
 * is the side that does not interoperate yet (the test asserts today's refusal, so it fails, and
 * must be turned into a plain test, once Keybound is fixed).
 */
export type Outcome = 'pass' | 'fail' | 'deviation' | 'limitation' | 'keybound-gap'

export interface CompatEntry {
  peer: string
  version: string
  what: string
  result: Outcome
  /**
   * `fixture`: the peer cannot run here (a hosted identity provider), so the row was tested
   * against a fixture that reproduces the provider's documented token shapes, not the peer.
   */
  basis?: 'fixture'
  /** For deviations: the RFC 9449 section and what the peer does instead. */
  rfc?: string
  note?: string
}

const versions = new Map<string, string>()

/** The installed version of `name`, read from its package.json (the nearest node_modules up). */
export function peerVersion(name: string): string {
  const known = versions.get(name)
  if (known !== undefined) return known
  for (let dir = INTEROP_ROOT; ; dir = dirname(dir)) {
    const file = join(dir, 'node_modules', name, 'package.json')
    if (existsSync(file)) {
      const version = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
      versions.set(name, version)
      return version
    }
    if (dirname(dir) === dir) throw new Error(`peer ${name} is not installed`)
  }
}

type TestBody = () => Promise<void> | void

export interface CompatSuite {
  /** A test of one interop capability with `peer`; recorded as pass or fail. */
  it(peer: string, what: string, body: TestBody, timeout?: number): void
  /**
   * A test that pins down where `peer` departs from RFC 9449 (it asserts the peer's actual
   * behaviour, so it passes while the deviation lasts and fails when the peer changes).
   */
  deviation(
    peer: string,
    what: string,
    details: { rfc: string; note: string; kind?: 'deviation' | 'limitation' | 'keybound-gap' },
    body: TestBody,
    timeout?: number,
  ): void
  /**
   * A test of one capability with a provider that cannot run here, against a fixture issuer in
   * the shape the provider documents; recorded as pass or fail, and marked "by fixture".
   */
  fixture(provider: string, what: string, body: TestBody, timeout?: number): void
}

/** Declares the interop tests of one file; `suite` names the results file. */
/** The entries a results file holds, serialized for comparison, or `undefined` without one. */
function recordedEntries(file: string): string | undefined {
  if (!existsSync(file)) return undefined
  try {
    return JSON.stringify((JSON.parse(readFileSync(file, 'utf8')) as { entries: unknown }).entries)
  } catch {
    return undefined
  }
}

export function compatSuite(suite: string): CompatSuite {
  const entries: CompatEntry[] = []
  // A fixture has no installed version: the documented shape is what was tested.
  const record = (entry: Omit<CompatEntry, 'version'>) =>
    entries.push({
      ...entry,
      version: entry.basis === 'fixture' ? '—' : peerVersion(entry.peer),
    })
  const run = (body: TestBody, entry: Omit<CompatEntry, 'version' | 'result'>, ok: Outcome) => {
    return async () => {
      try {
        await body()
      } catch (error) {
        record({ ...entry, result: 'fail' })
        throw error
      }
      record({ ...entry, result: ok })
    }
  }
  afterAll(() => {
    if (entries.length === 0) return
    mkdirSync(RESULTS, { recursive: true })
    const order = (entry: CompatEntry) => `${entry.peer}\u0000${entry.what}`
    entries.sort((a, b) => (order(a) < order(b) ? -1 : 1))
    const file = join(RESULTS, `${suite}.json`)
    if (recordedEntries(file) === JSON.stringify(entries)) return
    writeFileSync(file, `${JSON.stringify({ suite, node: process.version, entries }, null, 2)}\n`)
  })
  return {
    it(peer, what, body, timeout) {
      peerVersion(peer)
      it(`${peer}: ${what}`, run(body, { peer, what }, 'pass'), timeout)
    },
    deviation(peer, what, { kind = 'deviation', rfc, note }, body, timeout) {
      peerVersion(peer)
      it(
        `${peer} ${kind} (RFC 9449 ${rfc}): ${what}`,
        run(body, { peer, what, rfc, note }, kind),
        timeout,
      )
    },
    fixture(provider, what, body, timeout) {
      it(
        `${provider} (by fixture): ${what}`,
        run(body, { peer: provider, what, basis: 'fixture' }, 'pass'),
        timeout,
      )
    },
  }
}
