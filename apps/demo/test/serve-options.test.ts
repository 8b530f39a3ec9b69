/**
 * `resolveServeOptions` for extra resources: from the option or `KEYBOUND_RESOURCES`, repeats
 * dropped, and every bad URL named with its index and value in one error.
 */
import { describe, expect, it } from 'vitest'
import { resolveServeOptions } from '../src/options.js'

describe('serve options: resources', () => {
  it('reads KEYBOUND_RESOURCES (spaces or commas) and drops repeats', () => {
    const env = {
      KEYBOUND_RESOURCES: 'http://localhost:4010, https://api.example.com http://localhost:4010',
    }
    expect(resolveServeOptions({}, env).resources).toEqual([
      'http://localhost:4010',
      'https://api.example.com',
    ])
    expect(resolveServeOptions({}, {}).resources).toEqual([])
  })

  it('prefers the option to the environment', () => {
    const env = { KEYBOUND_RESOURCES: 'http://localhost:4010' }
    expect(resolveServeOptions({ resources: ['https://b.example'] }, env).resources).toEqual([
      'https://b.example',
    ])
  })

  it('names every bad resource at once', () => {
    expect(() =>
      resolveServeOptions({
        resources: ['http://localhost:4010', 'http://api.example.com', 'https://a.example/#x'],
      }),
    ).toThrow(
      'resources[1]: must be an absolute https URL or loopback http (got "http://api.example.com")\n' +
        'resources[2]: must not contain a fragment (got "https://a.example/#x")',
    )
  })
})
