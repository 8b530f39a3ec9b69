/**
 * The one way both config files read the environment: a `${NAME}` reference inside any string
 * value is replaced by that variable, so secrets and per-deployment URLs stay out of the file.
 * A reference to a variable that is not set is reported with the path of the value that holds
 * it, by name only: the message never repeats a value.
 * @see https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_06_02
 * @packageDocumentation
 */
import { isPlainObject, memberPath } from './schema.js'

/** A `${NAME}` reference whose variable is not set, and the path of the value holding it. */
export interface UnsetReference {
  readonly path: string
  readonly name: string
}

/** A document with its references replaced, and the references that could not be. */
export interface SubstitutedDocument {
  readonly document: unknown
  readonly unset: readonly UnsetReference[]
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/**
 * Replaces every `${NAME}` in the string values of a parsed document (at any depth, never in
 * keys) by the environment variable `NAME`. An unset variable becomes the empty string and is
 * listed in `unset`, so the loader can report it once instead of the problems it causes.
 * @example
 * ```ts
 * import { substituteReferences } from '@keybound/config-kit'
 * const { document, unset } = substituteReferences({ url: '${DATABASE_URL}' }, process.env)
 * ```
 * @see https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_06_02
 */
export function substituteReferences(
  document: unknown,
  env: NodeJS.ProcessEnv,
): SubstitutedDocument {
  const unset: UnsetReference[] = []
  return { document: substituteValue(document, '', env, unset), unset }
}

function substituteValue(
  value: unknown,
  path: string,
  env: NodeJS.ProcessEnv,
  unset: UnsetReference[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (_reference, name: string) => {
      const replacement = env[name]
      if (replacement === undefined) unset.push({ path, name })
      return replacement ?? ''
    })
  }
  if (Array.isArray(value))
    return value.map((item, i) => substituteValue(item, `${path}[${i}]`, env, unset))
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [key, member] of Object.entries(value))
      out[key] = substituteValue(member, memberPath(path, key), env, unset)
    return out
  }
  return value
}

/**
 * The issue line for an unset reference, in the form every config issue has.
 * @example
 * ```ts
 * import { describeUnset } from '@keybound/config-kit'
 * describeUnset({ path: 'storage.databaseUrl', name: 'DATABASE_URL' })
 * // 'storage.databaseUrl: environment variable DATABASE_URL is not set'
 * ```
 * @see https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_06_02
 */
export function describeUnset(reference: UnsetReference): string {
  return `${reference.path}: environment variable ${reference.name} is not set`
}

/**
 * Whether an issue only follows from an unset reference: the same field, or a neighbour in the
 * same object (a client without its secret reads as a public client). Such issues are left out
 * so each unset variable is reported once; a real problem there shows once the variable is set.
 * @example
 * ```ts
 * import { followsFromUnset } from '@keybound/config-kit'
 * followsFromUnset('clients[0].grant_types: x', [{ path: 'clients[0].client_secret', name: 'S' }]) // true
 * ```
 * @see https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_06_02
 */
export function followsFromUnset(issue: string, unset: readonly UnsetReference[]): boolean {
  const path = issue.slice(0, issue.indexOf(': '))
  for (const { path: unsetPath } of unset) {
    if (path === unsetPath) return true
    const owner = unsetPath.replace(/(\.[^.[\]]+|\[\d+\])$/, '')
    if (
      owner !== '' &&
      owner !== unsetPath &&
      (path.startsWith(`${owner}.`) || path.startsWith(`${owner}[`))
    )
      return true
  }
  return false
}

/**
 * Writes a `${NAME}` reference at the setting a shorthand variable fills, for each shorthand
 * that is set and not empty, over what the file says there; {@link substituteReferences} then
 * reads it like any other reference. So a shorthand (`DATABASE_URL` for `storage.databaseUrl`)
 * is a reference the operator did not have to write, not a second way to read the environment.
 * @example
 * ```ts
 * import { writeShorthandReferences } from '@keybound/config-kit'
 * writeShorthandReferences({}, { DATABASE_URL: 'postgres://db/x' }, { DATABASE_URL: 'storage.databaseUrl' })
 * // { storage: { databaseUrl: '${DATABASE_URL}' } }
 * ```
 * @see https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_06_02
 */
export function writeShorthandReferences(
  document: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  shorthands: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const copy = structuredClone(document)
  for (const [name, path] of Object.entries(shorthands)) {
    const value = env[name]
    if (value !== undefined && value !== '') writeAtPath(copy, path, `\${${name}}`)
  }
  return copy
}

// Sets a dotted path, making (or replacing by) objects on the way: the shorthand wins.
function writeAtPath(target: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) {
    const next = node[part]
    node = isPlainObject(next) ? next : (node[part] = {})
  }
  node[parts.at(-1)!] = value
}
