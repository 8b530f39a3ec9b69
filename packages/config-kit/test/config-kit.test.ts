/**
 * The config kit on its own: the unknown-member walk, the JSON Schema written from the same
 * shape (checked with Ajv, the validator editors' language servers build on), and `${NAME}`
 * references. Pure functions over plain values; nothing to stand up.
 */
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import {
  findUnknownKeys,
  followsFromUnset,
  mergeIssues,
  shape,
  substituteReferences,
  toJsonSchema,
} from '@keybound/config-kit'

const SAMPLE = shape.object({
  name: shape.string(),
  nested: shape.object({ deep: shape.object({ flag: shape.boolean() }) }),
  list: shape.array(shape.object({ id: shape.integer({ minimum: 1 }) })),
  mode: shape.union([shape.constant(false), shape.object({ secretEnv: shape.string() })]),
  open: shape.object({}, { extra: true }),
})

describe('findUnknownKeys', () => {
  it('D45 — names an unknown member at every depth, this level first, with its path', () => {
    expect(
      findUnknownKeys(SAMPLE, {
        nested: { deep: { flag: true, flg: false } },
        list: [{ id: 1 }, { id: 2, idd: 3 }],
        mode: { secretEnv: 'X', secret: 'no' },
        open: { anything: { at: 'all' } },
        extra: 1,
      }),
    ).toEqual([
      'extra: is not a known setting',
      'nested.deep.flg: is not a known setting',
      'list[1].idd: is not a known setting',
      'mode.secret: is not a known setting',
    ])
  })

  it('leaves type errors to the loader and starts paths where it is asked', () => {
    expect(findUnknownKeys(SAMPLE, { nested: 'text', list: 3, mode: false })).toEqual([])
    expect(findUnknownKeys(SAMPLE, { x: 1 }, 'clients[0]')).toEqual([
      'clients[0].x: is not a known setting',
    ])
  })
})

describe('toJsonSchema', () => {
  const validate = new Ajv({ strict: true }).compile(
    toJsonSchema(SAMPLE, { id: 'https://example.com/sample.json', title: 'Sample' }),
  )

  it('D46 — accepts what the walk accepts and refuses each member the walk refuses', () => {
    const good = {
      nested: { deep: { flag: true } },
      list: [{ id: 1 }],
      mode: false,
      open: { a: 1 },
    }
    expect(findUnknownKeys(SAMPLE, good)).toEqual([])
    expect(validate(good)).toBe(true)
    for (const typo of [
      { nam: 'x' },
      { nested: { deep: { flg: true } } },
      { list: [{ idd: 1 }] },
    ]) {
      expect(findUnknownKeys(SAMPLE, typo)).toHaveLength(1)
      expect(validate(typo)).toBe(false)
    }
  })
})

describe('substituteReferences', () => {
  it('D47 — replaces ${NAME} in string values at any depth and lists unset ones by path', () => {
    const { document, unset } = substituteReferences(
      { a: 'x-${SET}-y', list: [{ b: '${MISSING}' }], n: 3, k: { '${SET}': 'keys stay' } },
      { SET: 'v' },
    )
    expect(document).toEqual({ a: 'x-v-y', list: [{ b: '' }], n: 3, k: { '${SET}': 'keys stay' } })
    expect(unset).toEqual([{ path: 'list[0].b', name: 'MISSING' }])
    expect(followsFromUnset('list[0].c: must be set', unset)).toBe(true)
    expect(followsFromUnset('a: must be set', unset)).toBe(false)
  })
})

describe('mergeIssues', () => {
  it('keeps the first place of an issue found twice', () => {
    expect(mergeIssues(['b: x', 'a: y'], ['a: y', 'c: z'])).toEqual(['b: x', 'a: y', 'c: z'])
  })
})
