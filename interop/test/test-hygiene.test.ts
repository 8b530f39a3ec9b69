/**
 * Test hygiene: a test reaches only its own workspace and the private test kit. A test (or a
 * test helper) that imported another package's `test/` folder or the repository's `scripts/`
 * would tie two suites together through files neither owns; what both need lives in
 * `test-kit/` (`@keybound/test-kit`). Imports are read from the syntax tree: static imports,
 * `export ... from`, `import()` calls and `import('...')` types.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', 'test-output'])
const SOURCE_FILE = /\.(?:[cm]?ts|[cm]?js)$/

/** Every workspace folder the root manifest lists (`packages/*` expanded), relative to ROOT. */
function listWorkspaces(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    workspaces: string[]
  }
  return manifest.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [pattern]
    const parent = pattern.slice(0, -2)
    return readdirSync(join(ROOT, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${parent}/${entry.name}`)
  })
}

function listSourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : listSourceFiles(path)
    return SOURCE_FILE.test(entry.name) ? [path] : []
  })
}

/** The module specifiers one file imports, in source order. */
function importsOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text)
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/**
 * Why `specifier`, imported by `file` (relative to ROOT) of `workspace`, breaks the rule, or
 * undefined when it is fine. A relative path may not leave the workspace; a package path may
 * not name a `test/` or `scripts/` folder.
 */
function violationOf(workspace: string, file: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) {
    const target = relative(ROOT, resolve(ROOT, dirname(file), specifier))
      .split(sep)
      .join('/')
    if (target.startsWith(`${workspace}/`)) return undefined
    return `${file} imports ${specifier} (${target}), outside ${workspace}/`
  }
  if (/(?:^|\/)(?:test|tests|scripts)(?:\/|$)/.test(specifier.replace(/^@[^/]+\/[^/]+\//, '/')))
    return `${file} imports ${specifier}, another package's test or scripts folder`
  return undefined
}

/** The test code of the repository: each workspace's `test/`, and the kit's own source. */
function testFilesByWorkspace(): Array<{ workspace: string; file: string }> {
  return listWorkspaces().flatMap((workspace) => {
    const folder = workspace === 'test-kit' ? 'src' : 'test'
    return listSourceFiles(join(ROOT, workspace, folder)).map((path) => ({
      workspace,
      file: relative(ROOT, path).split(sep).join('/'),
    }))
  })
}

describe('test hygiene: no test imports another package’s tests or scripts/', () => {
  const files = testFilesByWorkspace()

  it('finds the test files of every workspace, the kit included', () => {
    const workspaces = new Set(files.map(({ workspace }) => workspace))
    for (const expected of ['packages/core', 'packages/server', 'apps/demo', 'interop', 'test-kit'])
      expect(workspaces).toContain(expected)
    expect(files.length).toBeGreaterThan(150)
  })

  it('no test file or helper imports outside its workspace, except packages and the kit', () => {
    const violations = files.flatMap(({ workspace, file }) =>
      importsOf(file, readFileSync(join(ROOT, file), 'utf8'))
        .map((specifier) => violationOf(workspace, file, specifier))
        .filter((violation) => violation !== undefined),
    )
    expect(violations).toEqual([])
  })

  it('refuses the imports this rule exists for, and allows the ones tests need', () => {
    const file = 'packages/gateway/test/faults-redis.test.ts'
    const imports = importsOf(
      file,
      [
        "import { redisChild } from '../../server/test/support/redis-server.js'",
        "export { slowloris } from '../../../scripts/abusive-clients.js'",
        "const kit = await import('@keybound/server/test/support/http.js')",
        "type Issuer = import('../../../interop/test/support/keybound-as.js').KeyboundAs",
        "import { send } from './support/http.js'",
        "import { listen } from '@keybound/test-kit/net'",
        "import { createGateway } from '@keybound/gateway'",
      ].join('\n'),
    )
    expect(imports).toHaveLength(7)
    const verdicts = imports.map((specifier) => violationOf('packages/gateway', file, specifier))
    expect(verdicts.slice(0, 4).every((verdict) => verdict !== undefined)).toBe(true)
    expect(verdicts.slice(4)).toEqual([undefined, undefined, undefined])
  })
})
