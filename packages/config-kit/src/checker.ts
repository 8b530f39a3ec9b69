/**
 * The one value checker of both config loaders: each check records `path: problem` instead of
 * throwing, so one run names every bad field, and each problem has one wording whichever file
 * it is found in (`metrics.port` and `listen.port` both read `must be a whole number from 0 to
 * 65535`). See ADR 0050.
 * @see https://json-schema.org/draft-07/json-schema-validation
 * @packageDocumentation
 */
import { isPlainObject } from './schema.js'
import { checkUrl, type UrlRule } from './urls.js'

/** A parsed JSON or YAML object, before its members are checked. */
export type ConfigObject = Record<string, unknown>

/** What the items of a list of strings must be, and how a bad item is worded. */
export interface StringListRule {
  /** The list must be given: `is required` when absent (default `false`). */
  readonly required?: boolean
  /** The list may not be empty (default `false`). */
  readonly nonEmpty?: boolean
  /** Each item must match this pattern or pass this test. */
  readonly accepts?: RegExp | ((item: string) => boolean)
  /** The problem of an item that does not (default `must be a non-empty string`). */
  readonly problem?: string
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== ''
}

function isWholeNumber(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
}

/**
 * Collects problems while a loader walks its input, each as `path: problem`. A check returns
 * the value when it is good and the fallback (or `undefined`) when it is not, so the loader
 * goes on and the next bad field is named too.
 * @example
 * ```ts
 * import { Checker } from '@keybound/config-kit'
 * const checker = new Checker()
 * checker.integer(70_000, 'listen.port', 8080, 0, 65_535) // 8080
 * checker.issues // ['listen.port: must be a whole number from 0 to 65535']
 * ```
 * @see https://json-schema.org/draft-07/json-schema-validation
 */
export class Checker {
  /** Every problem found so far, as `path: problem`, in the order found. */
  readonly issues: string[] = []

  /** Records a problem the checks below do not cover (a cross-field rule, say). */
  fail(path: string, problem: string): undefined {
    this.issues.push(`${path}: ${problem}`)
    return undefined
  }

  /** A required object: `is required` when absent, `must be an object` when not one. */
  object(value: unknown, path: string): ConfigObject | undefined {
    if (value === undefined) return this.fail(path, 'is required')
    return isPlainObject(value) ? value : this.fail(path, 'must be an object')
  }

  /** An optional object: `{}` when absent, and also when it is not an object (named). */
  optionalObject(value: unknown, path: string): ConfigObject {
    return value === undefined ? {} : (this.object(value, path) ?? {})
  }

  /** An optional string that is not blank: the fallback when absent. */
  string(value: unknown, path: string, fallback?: string): string | undefined {
    if (value === undefined) return fallback
    return isNonEmptyString(value) ? value : this.fail(path, 'must be a non-empty string')
  }

  /** A required string that is not blank. */
  required(value: unknown, path: string): string | undefined {
    if (value === undefined) return this.fail(path, 'is required')
    return this.string(value, path)
  }

  /** `true` or `false`; the fallback when absent or wrong. */
  boolean(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback
    if (typeof value === 'boolean') return value
    this.fail(path, 'must be true or false')
    return fallback
  }

  /** A whole number from `min` to `max`; the fallback when absent or wrong. */
  integer(value: unknown, path: string, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback
    if (isWholeNumber(value, min, max)) return value
    this.fail(path, `must be a whole number from ${min} to ${max}`)
    return fallback
  }

  /** A duration: a whole number of seconds from 1 to `max` (default 366 days). */
  seconds(value: unknown, path: string, fallback: number, max = 366 * 86400): number {
    if (value === undefined) return fallback
    if (isWholeNumber(value, 1, max)) return value
    this.fail(path, `must be a whole number of seconds from 1 to ${max}`)
    return fallback
  }

  /** One of a fixed list of strings; the fallback when absent or wrong. */
  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
      return value as T
    this.fail(path, `must be one of ${allowed.join(', ')}`)
    return fallback
  }

  /** A non-empty list of values from a fixed list; each bad item is named by its index. */
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

  /**
   * An optional list of strings, `undefined` when absent; each bad item is named by its index
   * and left out.
   */
  strings(value: unknown, path: string, rule: StringListRule = {}): string[] | undefined {
    if (value === undefined)
      return rule.required === true ? this.fail(path, 'is required') : undefined
    if (!Array.isArray(value) || (rule.nonEmpty === true && value.length === 0))
      return this.fail(
        path,
        rule.nonEmpty === true ? 'must be a non-empty array' : 'must be an array',
      )
    return value.filter((item, i): item is string => {
      if (isNonEmptyString(item) && accepts(rule, item)) return true
      this.fail(`${path}[${i}]`, rule.problem ?? 'must be a non-empty string')
      return false
    })
  }

  /**
   * An optional list of entries (`users`, `trustedIssuers`): `[]` when absent; each item is
   * checked by `checkItem` with its own path (`trustedIssuers[1]`), and left out when that
   * returns `undefined` (it has named the problem).
   */
  list<T>(
    value: unknown,
    path: string,
    checkItem: (item: unknown, itemPath: string) => T | undefined,
  ): T[] {
    if (value === undefined) return []
    if (!Array.isArray(value)) return this.fail(path, 'must be an array') ?? []
    return value.flatMap((item, i) => {
      const checked = checkItem(item, `${path}[${i}]`)
      return checked === undefined ? [] : [checked]
    })
  }

  /**
   * Whether exactly one of `members` is set in `object` (a route's `path` or `prefix`); names
   * the object when none or several are.
   */
  exactlyOne(object: ConfigObject, path: string, members: readonly string[]): boolean {
    if (members.filter((member) => object[member] !== undefined).length === 1) return true
    this.fail(path, `needs exactly one of ${members.join(', ')}`)
    return false
  }

  /** A required URL that follows `rule` (see {@link checkUrl}). */
  url(value: unknown, path: string, rule: UrlRule): string | undefined {
    const text = this.required(value, path)
    if (text === undefined) return undefined
    const problem = checkUrl(text, rule)
    return problem === undefined ? text : this.fail(path, problem)
  }

  /**
   * A required setting that names an environment variable (`clientSecretEnv`, `pinEnv`): the
   * file names where a secret is, never the secret.
   */
  variableName(value: unknown, path: string): string | undefined {
    const name = this.required(value, path)
    if (name === undefined || VARIABLE_NAME.test(name)) return name
    return this.fail(path, 'must be the name of an environment variable')
  }

  /**
   * The value of the variable a setting names, read now. An unset or empty variable is worded
   * like an unset `${NAME}` reference; the message names the variable, never its content.
   */
  variable(env: NodeJS.ProcessEnv, value: unknown, path: string, minBytes = 1): string | undefined {
    const name = this.variableName(value, path)
    if (name === undefined) return undefined
    const content = env[name]
    if (content === undefined || content === '')
      return this.fail(path, `environment variable ${name} is not set`)
    if (Buffer.byteLength(content) < minBytes)
      return this.fail(path, `environment variable ${name} must hold at least ${minBytes} bytes`)
    return content
  }
}

function accepts(rule: StringListRule, item: string): boolean {
  if (rule.accepts === undefined) return true
  return typeof rule.accepts === 'function' ? rule.accepts(item) : rule.accepts.test(item)
}
