/**
 * The authorization server's value checks: each records `path: problem` instead of throwing,
 * and URL rules for issuers, redirect URIs and other absolute URLs.
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @packageDocumentation
 */
import { isLoopbackHost } from '@keybound/core'

/** A parsed JSON or YAML object, before its members are checked. */
export type Input = Record<string, unknown>

/**
 * Collects problems while walking the input, each with its dotted path, so one run names every
 * bad field. Shared by the config loader and the client-metadata rules.
 * @example
 * ```ts
 * const checker = new Checker()
 * checker.seconds(0, 'accessTokens.lifetime', 300) // 300, and one issue recorded
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export class Checker {
  readonly issues: string[] = []

  fail(path: string, problem: string): undefined {
    this.issues.push(`${path}: ${problem}`)
    return undefined
  }

  object(value: unknown, path: string): Input | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Input
    return this.fail(path, 'must be an object')
  }

  optionalObject(value: unknown, path: string): Input {
    return value === undefined ? {} : (this.object(value, path) ?? {})
  }

  string(value: unknown, path: string, fallback?: string): string | undefined {
    if (value === undefined) return fallback
    if (typeof value === 'string' && value.length > 0) return value
    return this.fail(path, 'must be a non-empty string')
  }

  required(value: unknown, path: string): string | undefined {
    if (value === undefined) return this.fail(path, 'is required')
    return this.string(value, path)
  }

  boolean(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback
    if (typeof value === 'boolean') return value
    this.fail(path, 'must be true or false')
    return fallback
  }

  seconds(value: unknown, path: string, fallback: number, max = 366 * 86400): number {
    if (value === undefined) return fallback
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max)
      return value
    this.fail(path, `must be a whole number of seconds from 1 to ${max}`)
    return fallback
  }

  integer(value: unknown, path: string, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)
      return value
    this.fail(path, `must be a whole number from ${min} to ${max}`)
    return fallback
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
      return value as T
    this.fail(path, `must be one of ${allowed.join(', ')}`)
    return fallback
  }

  listOf<T extends string>(
    value: unknown,
    path: string,
    allowed: readonly T[],
    fallback: T[],
  ): T[] {
    if (value === undefined) return fallback
    if (!Array.isArray(value) || value.length === 0) {
      this.fail(path, 'must be a non-empty array')
      return fallback
    }
    return value.filter((item, i): item is T => {
      if (typeof item === 'string' && (allowed as readonly string[]).includes(item)) return true
      this.fail(`${path}[${i}]`, `must be one of ${allowed.join(', ')}`)
      return false
    })
  }

  url(value: unknown, path: string, kind: 'issuer' | 'redirect' | 'any'): string | undefined {
    const text = this.string(value, path)
    if (text === undefined) return undefined
    const problem = checkUrl(text, kind)
    return problem === undefined ? text : this.fail(path, problem)
  }
}

/**
 * Why a URL is not acceptable for its use, or `undefined` when it is. Issuers and redirect URIs
 * must be https, except plain http on a loopback host (RFC 8252 §7.3, RFC 9449 §2).
 * @example
 * ```ts
 * checkUrl('http://example.com/cb', 'redirect') // 'must be an absolute https URL or loopback http'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2
 */
export function checkUrl(text: string, kind: 'issuer' | 'redirect' | 'any'): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'must be an absolute https URL or loopback http'
  }
  const secure =
    url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
  if (kind !== 'any' && !secure) return 'must be an absolute https URL or loopback http'
  if (kind === 'any' && !/^(https?|postgres(ql)?|rediss?):$/.test(url.protocol))
    return 'must be an absolute URL'
  if (url.hash !== '' || text.includes('#')) return 'must not contain a fragment'
  if (kind === 'issuer' && (url.search !== '' || text.includes('?')))
    return 'must not contain a query'
  if (kind !== 'any' && (url.username !== '' || url.password !== ''))
    return 'must not contain user info'
  return undefined
}
