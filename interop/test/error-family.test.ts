/**
 * The one error family (ADR 0043), checked across every package that throws:
 * - D38: every error class a package exports is a `KeyboundError` whose instances carry the
 *   class's stable code, and every code has the one `ERR_DPOP_` prefix scheme; core's code union
 *   lists only core's own codes.
 * - D41: docs/errors.md catalogues exactly the codes the sources use: a code in `src` missing from
 *   the page, or one on the page no source uses any more, fails here.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as authorizationServer from '@keybound/authorization-server'
import * as client from '@keybound/client'
import * as core from '@keybound/core'
import * as gateway from '@keybound/gateway'
import * as pkcs11 from '@keybound/pkcs11'
import * as server from '@keybound/server'
import * as cli from 'keybound'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const CATALOGUE = join(ROOT, 'docs', 'errors.md')
const CODE = /^ERR_DPOP_[A-Z0-9]+(?:_[A-Z0-9]+)*$/
const CODE_LITERAL = /['"`](ERR_DPOP_[A-Z0-9_]+)['"`]/g
const SKIPPED_DIRS = new Set(['node_modules', 'dist'])

const PACKAGES: Record<string, Record<string, unknown>> = {
  '@keybound/core': core,
  '@keybound/client': client,
  '@keybound/server': server,
  '@keybound/pkcs11': pkcs11,
  '@keybound/authorization-server': authorizationServer,
  '@keybound/gateway': gateway,
  keybound: cli,
}

type ErrorClass = (abstract new (...args: never[]) => Error) & { code?: unknown }

// Classes whose constructor does not take a message first.
const CONSTRUCTOR_ARGUMENTS: Record<string, unknown[]> = {
  OAuthResponseError: [{ error: 'invalid_grant' }],
  OAuthError: ['invalid_grant', 'authorization code is invalid or expired'],
  ConfigError: [['issuer: must be an https URL']],
  GatewayConfigError: [['upstream.url: must be an absolute URL']],
  MissingPackageError: ['gateway', '@keybound/gateway'],
}

function exportedErrorClasses(): { where: string; name: string; type: ErrorClass }[] {
  const found: { where: string; name: string; type: ErrorClass }[] = []
  for (const [where, exports] of Object.entries(PACKAGES)) {
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value === 'function' && value.prototype instanceof Error) {
        found.push({ where, name, type: value as unknown as ErrorClass })
      }
    }
  }
  return found
}

function listSourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIPPED_DIRS.has(entry.name)) return []
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return listSourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

function codesInSources(): Set<string> {
  const codes = new Set<string>()
  for (const pkg of readdirSync(join(ROOT, 'packages'))) {
    for (const file of listSourceFiles(join(ROOT, 'packages', pkg, 'src'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(CODE_LITERAL)) codes.add(match[1]!)
    }
  }
  return codes
}

// The first cell of each table row: `| `ERR_DPOP_…` | …`.
function codesInCatalogue(): Set<string> {
  const codes = new Set<string>()
  for (const match of readFileSync(CATALOGUE, 'utf8').matchAll(/^\|\s*`(ERR_[A-Z0-9_]+)`/gm)) {
    codes.add(match[1]!)
  }
  return codes
}

describe('D38 every exported error class is a KeyboundError with a stable code', () => {
  const classes = exportedErrorClasses()

  it('finds the error classes of every package', () => {
    const packages = new Set(classes.map(({ where }) => where))
    expect([...packages].sort()).toEqual(Object.keys(PACKAGES).sort())
  })

  it.each(classes.map((entry) => ({ ...entry, label: `${entry.where} ${entry.name}` })))(
    '$label',
    ({ name, type }) => {
      expect(type === core.KeyboundError || type.prototype instanceof core.KeyboundError).toBe(true)
      // Abstract bases (KeyboundError, AccessTokenError, Pkcs11Error) have no code of their own.
      if (!Object.hasOwn(type, 'code')) return
      expect(type.code).toMatch(CODE)
      const args = CONSTRUCTOR_ARGUMENTS[name] ?? ['a failure']
      const instance = new (type as unknown as new (...args: unknown[]) => core.KeyboundError)(
        ...args,
      )
      expect(instance).toBeInstanceOf(core.KeyboundError)
      expect(instance.code).toBe(type.code)
      expect(instance.name).toBe(name)
    },
  )

  it("core's code union lists only core's own codes", () => {
    const source = readFileSync(join(ROOT, 'packages', 'core', 'src', 'errors.ts'), 'utf8')
    const union = /export type DPoPErrorCode =([^]*?)\n\n/.exec(source)?.[1] ?? ''
    const listed = [...union.matchAll(CODE_LITERAL)].map((match) => match[1]).sort()
    const thrownByCore = exportedErrorClasses()
      .filter(({ where, type }) => where === '@keybound/core' && Object.hasOwn(type, 'code'))
      .map(({ type }) => type.code as string)
    expect(listed).toEqual([...new Set(thrownByCore)].sort())
  })
})

describe('D41 docs/errors.md catalogues every code', () => {
  const inSources = codesInSources()
  const inCatalogue = codesInCatalogue()

  it('every code in src is in the catalogue', () => {
    expect([...inSources].filter((code) => !inCatalogue.has(code))).toEqual([])
  })

  it('every code in the catalogue is used in src', () => {
    expect([...inCatalogue].filter((code) => !inSources.has(code))).toEqual([])
  })

  it('every exported class code is in the catalogue', () => {
    const codes = exportedErrorClasses()
      .filter(({ type }) => Object.hasOwn(type, 'code'))
      .map(({ type }) => type.code as string)
    expect(codes.filter((code) => !inCatalogue.has(code))).toEqual([])
  })
})
