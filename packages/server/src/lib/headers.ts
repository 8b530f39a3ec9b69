/**
 * Reading request headers from either a `Headers` object or a plain record (Node's
 * `headersDistinct`, `headers`, or anything user-made), keeping repeated field lines apart.
 */
import type { RequestLike } from '../types.js'

// Records whose names are all lower-case already (Node's `headers` or `headersDistinct`),
// marked by the adapters that pass them: a look-up is then one property read.
const lowerCaseRecords = new WeakSet<object>()

/**
 * Marks a header record whose names are all lower-case (Node's `headersDistinct`, or its
 * `headers` when no name repeats), so that reading a header needs no walk over the names.
 * @example
 * ```ts
 * markLowerCaseHeaders(req.headersDistinct)
 * ```
 */
export function markLowerCaseHeaders(record: object): void {
  lowerCaseRecords.add(record)
}

const NO_VALUES: readonly string[] = Object.freeze([])

// An array of strings only (Node's `headersDistinct`), returned as it is: callers only read it.
function isStringArray(value: unknown[]): value is string[] {
  for (const item of value) if (typeof item !== 'string') return false
  return true
}

// Odd values still count as field lines (stringified), so they can only make a request look
// like more than one credential or proof, never hide one.
function valuesOf(value: unknown): readonly string[] {
  if (value === undefined || value === null) return NO_VALUES
  if (!Array.isArray(value)) return [typeof value === 'string' ? value : String(value)]
  if (isStringArray(value)) return value
  const values: string[] = []
  for (const item of value)
    if (item !== undefined && item !== null)
      values.push(typeof item === 'string' ? item : String(item))
  return values
}

/**
 * Every value of one header field. A `Headers` object joins repeated lines with `, `, so that
 * case yields one value containing a comma; callers treat a comma as "more than one".
 */
export function readHeaderValues(headers: RequestLike['headers'], name: string): readonly string[] {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    const value = headers.get(name)
    return value === null ? NO_VALUES : [value]
  }
  if (typeof headers !== 'object' || headers === null) return NO_VALUES
  const record = headers as Record<string, unknown>
  if (lowerCaseRecords.has(record))
    return valuesOf(Object.hasOwn(record, name) ? record[name] : undefined)
  const values: string[] = []
  // for-in walks the names without building an array of them; only own names count.
  for (const key in record) {
    if (key.length !== name.length || !Object.hasOwn(record, key) || key.toLowerCase() !== name)
      continue
    for (const value of valuesOf(record[key])) values.push(value)
  }
  return values
}

/** The single value of a header, or `undefined` when absent; repeated values are joined with `, `. */
export function readHeader(headers: RequestLike['headers'], name: string): string | undefined {
  const values = readHeaderValues(headers, name)
  return values.length === 0 ? undefined : values.join(', ')
}

const isOws = (code: number): boolean => code === 0x20 || code === 0x09

/** Strips HTTP optional whitespace (SP / HTAB) from both ends of a field value. */
export function trimOws(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}
