/**
 * One description of a config file's shape, read two ways: {@link findUnknownKeys} walks a
 * parsed document and names every member the shape does not know, at any depth, and
 * {@link toJsonSchema} writes the same shape as a JSON Schema for editors. Values are judged by
 * each loader with the kit's `Checker`; the shape only says which members exist, their JSON
 * types and their simple bounds.
 * @see https://json-schema.org/draft-07/json-schema-validation
 * @packageDocumentation
 */

/** What every shape may carry: the text an editor shows on hover. */
interface Described {
  readonly description?: string
}

/** A string, optionally one of a fixed list or matching a pattern. */
export interface StringShape extends Described {
  readonly type: 'string'
  readonly enum?: readonly string[]
  readonly pattern?: string
}

/** A whole number within bounds. */
export interface IntegerShape extends Described {
  readonly type: 'integer'
  readonly minimum?: number
  readonly maximum?: number
}

/** `true` or `false`. */
export interface BooleanShape extends Described {
  readonly type: 'boolean'
}

/** A list whose items all have one shape. */
export interface ArrayShape extends Described {
  readonly type: 'array'
  readonly items: Shape
  readonly minItems?: number
}

/**
 * An object with named members. Members not named are refused unless `extra` says what they
 * are (`true`: anything, as in a JWK whose members belong to another specification).
 */
export interface ObjectShape extends Described {
  readonly type: 'object'
  readonly properties: Readonly<Record<string, Shape>>
  readonly required?: readonly string[]
  readonly extra?: Shape | true
}

/** One fixed value, such as `false` or `'memory'` in a union. */
export interface ConstantShape extends Described {
  readonly type: 'constant'
  readonly value: string | boolean
}

/** Any one of several shapes (a setting that is `false` or an object, a string or a list). */
export interface UnionShape extends Described {
  readonly type: 'union'
  readonly options: readonly Shape[]
}

/** The shape of one config value. */
export type Shape =
  StringShape | IntegerShape | BooleanShape | ArrayShape | ObjectShape | ConstantShape | UnionShape

/**
 * Builders for {@link Shape}s, so a schema reads like the file it describes.
 * @example
 * ```ts
 * import { shape } from '@keybound/config-kit'
 * const limits = shape.object({ bodyBytes: shape.integer({ minimum: 1024 }) })
 * ```
 * @see https://json-schema.org/draft-07/json-schema-validation
 */
export const shape = {
  string: (options: Omit<StringShape, 'type'> = {}): StringShape => ({
    type: 'string',
    ...options,
  }),
  oneOf: (values: readonly string[], description?: string): StringShape => ({
    type: 'string',
    enum: values,
    ...(description === undefined ? {} : { description }),
  }),
  integer: (options: Omit<IntegerShape, 'type'> = {}): IntegerShape => ({
    type: 'integer',
    ...options,
  }),
  boolean: (description?: string): BooleanShape => ({
    type: 'boolean',
    ...(description === undefined ? {} : { description }),
  }),
  array: (items: Shape, options: Omit<ArrayShape, 'type' | 'items'> = {}): ArrayShape => ({
    type: 'array',
    items,
    ...options,
  }),
  object: (
    properties: Readonly<Record<string, Shape>>,
    options: Omit<ObjectShape, 'type' | 'properties'> = {},
  ): ObjectShape => ({ type: 'object', properties, ...options }),
  constant: (value: string | boolean): ConstantShape => ({ type: 'constant', value }),
  union: (options: readonly Shape[], description?: string): UnionShape => ({
    type: 'union',
    options,
    ...(description === undefined ? {} : { description }),
  }),
} as const

/**
 * Joins a member name to the path of its parent: `a` + `b` is `a.b`, the root's member is just
 * its name.
 * @example
 * ```ts
 * import { memberPath } from '@keybound/config-kit'
 * memberPath('dpop.nonce', 'required') // 'dpop.nonce.required'
 * ```
 * @see https://json-schema.org/draft-07/json-schema-validation
 */
export function memberPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`
}

/** A JSON object: not `null`, not an array. Shared inside the kit, not exported by it. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// Which options of a union could describe this value at all, judged by its JSON type.
function optionsOfSameKind(options: readonly Shape[], value: unknown): Shape[] {
  return options.filter((option) => {
    if (option.type === 'object') return isPlainObject(value)
    if (option.type === 'array') return Array.isArray(value)
    if (option.type === 'union') return true
    return false
  })
}

/**
 * Names every member of `value` that `schema` does not know, at every depth, with its path
 * (`clients[0].scopes: is not a known setting`). Types are left to the loader's `Checker`;
 * this walk only refuses what no field is.
 * @example
 * ```ts
 * import { findUnknownKeys, shape } from '@keybound/config-kit'
 * findUnknownKeys(shape.object({ a: shape.boolean() }), { b: 1 }) // ['b: is not a known setting']
 * ```
 * @see https://json-schema.org/draft-07/json-schema-validation#section-6.5.6
 */
export function findUnknownKeys(schema: Shape, value: unknown, path = ''): string[] {
  if (schema.type === 'array') {
    if (!Array.isArray(value)) return []
    return value.flatMap((item, i) => findUnknownKeys(schema.items, item, `${path}[${i}]`))
  }
  if (schema.type === 'union') {
    // The option that leaves the fewest members unexplained is the one the author meant.
    const candidates = optionsOfSameKind(schema.options, value).map((option) =>
      findUnknownKeys(option, value, path),
    )
    return (
      candidates.reduce<string[] | undefined>(
        (best, found) => (best === undefined || found.length < best.length ? found : best),
        undefined,
      ) ?? []
    )
  }
  if (schema.type !== 'object' || !isPlainObject(value)) return []
  // This level's strangers first, then those inside known members: the order a reader scans.
  const strangers: string[] = []
  const inside: string[] = []
  for (const [key, member] of Object.entries(value)) {
    const at = memberPath(path, key)
    const memberShape = Object.hasOwn(schema.properties, key)
      ? schema.properties[key]
      : schema.extra
    if (memberShape === undefined) strangers.push(`${at}: is not a known setting`)
    else if (memberShape !== true) inside.push(...findUnknownKeys(memberShape, member, at))
  }
  return [...strangers, ...inside]
}

/** A JSON Schema (draft-07) document or subschema, as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown }

function describe(schema: Shape, out: JsonSchema): JsonSchema {
  return schema.description === undefined ? out : { description: schema.description, ...out }
}

function toSubschema(schema: Shape): JsonSchema {
  switch (schema.type) {
    case 'string': {
      const out: JsonSchema = { type: 'string' }
      if (schema.enum !== undefined) out.enum = [...schema.enum]
      if (schema.pattern !== undefined) out.pattern = schema.pattern
      return describe(schema, out)
    }
    case 'integer': {
      const out: JsonSchema = { type: 'integer' }
      if (schema.minimum !== undefined) out.minimum = schema.minimum
      if (schema.maximum !== undefined) out.maximum = schema.maximum
      return describe(schema, out)
    }
    case 'boolean':
      return describe(schema, { type: 'boolean' })
    case 'constant':
      return describe(schema, { const: schema.value })
    case 'array': {
      const out: JsonSchema = { type: 'array', items: toSubschema(schema.items) }
      if (schema.minItems !== undefined) out.minItems = schema.minItems
      return describe(schema, out)
    }
    case 'union':
      return describe(schema, { anyOf: schema.options.map(toSubschema) })
    case 'object': {
      const properties = Object.fromEntries(
        Object.entries(schema.properties).map(([key, member]) => [key, toSubschema(member)]),
      )
      const out: JsonSchema = {
        type: 'object',
        properties,
        additionalProperties:
          schema.extra === undefined
            ? false
            : schema.extra === true
              ? true
              : toSubschema(schema.extra),
      }
      if (schema.required !== undefined && schema.required.length > 0)
        out.required = [...schema.required]
      return describe(schema, out)
    }
  }
}

/**
 * Writes a shape as a JSON Schema (draft-07, the version YAML and JSON editors complete
 * against), with `additionalProperties: false` wherever the loader refuses unknown members.
 * @example
 * ```ts
 * import { shape, toJsonSchema } from '@keybound/config-kit'
 * const document = toJsonSchema(shape.object({}), { id: 'https://example.com/x.json', title: 'X' })
 * ```
 * @see https://json-schema.org/draft-07/json-schema-core
 */
export function toJsonSchema(schema: Shape, about: { id: string; title: string }): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: about.id,
    title: about.title,
    ...toSubschema(schema),
  }
}
