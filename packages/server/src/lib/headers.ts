/**
 * Reading request headers from either a `Headers` object or a plain record (Node's
 * `headersDistinct`, `headers`, or anything user-made), keeping repeated field lines apart.
 */
import type { RequestLike } from '../types.js'

/**
 * Every value of one header field. A `Headers` object joins repeated lines with `, `, so that
 * case yields one value containing a comma; callers treat a comma as "more than one".
 */
export function readHeaderValues(headers: RequestLike['headers'], name: string): string[] {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    const value = headers.get(name)
    return value === null ? [] : [value]
  }
  if (typeof headers !== 'object' || headers === null) return []
  const record = headers as Record<string, unknown>
  const values: string[] = []
  for (const key of Object.keys(record)) {
    if (key.length !== name.length || key.toLowerCase() !== name) continue
    const value = record[key]
    // Odd values still count as field lines (stringified), so they can only make a request
    // look like more than one credential or proof, never hide one.
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null)
        values.push(typeof item === 'string' ? item : String(item))
    }
  }
  return values
}

/** The single value of a header, or `undefined` when absent; repeated values are joined with `, `. */
export function readHeader(headers: RequestLike['headers'], name: string): string | undefined {
  const values = readHeaderValues(headers, name)
  return values.length === 0 ? undefined : values.join(', ')
}

/** Strips HTTP optional whitespace (SP / HTAB) from both ends of a field value. */
export function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '')
}
