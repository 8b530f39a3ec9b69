/**
 * Requirement IDs cannot drift: every ID a test name carries (A4, B16, RS17, AS13, C15, F5, V11,
 * D6, E9, …) must be defined in docs/requirements.md, and every test file that page cites must
 * exist. Test names are read from the syntax tree, so a string that only looks like a name (an
 * `alg` value, a hex dump) is not mistaken for one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const REQUIREMENTS = join(ROOT, 'docs', 'requirements.md')
// The same roots as the `include` of vitest.config.ts.
const TEST_ROOTS = ['packages', 'apps', 'interop']
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git'])
/** Calls whose string arguments are test titles (`compat.deviation` names a case too). */
const TITLE_CALLS = new Set(['describe', 'it', 'test', 'deviation'])
const ID = /\b(?:AS|RS|A|B|C|D|E|F|V)[1-9][0-9]*\b/g
// JWS algorithm names (RFC 7518 §3.1) share the RS prefix; they are never requirement IDs.
const JWS_ALGORITHM = /^RS(?:256|384|512)$/

interface TitledId {
  id: string
  file: string
  title: string
}

function listTestFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : listTestFiles(path)
    return entry.name.endsWith('.test.ts') ? [path] : []
  })
}

function textOf(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text
  if (ts.isTemplateExpression(node)) {
    return node.head.text + node.templateSpans.map((span) => ` ${span.literal.text}`).join('')
  }
  return undefined
}

/** The identifiers along a callee: `it.each(cases)` gives `each` and `it`. */
function calleeNames(callee: ts.Expression): string[] {
  const names: string[] = []
  let node: ts.Expression = callee
  for (;;) {
    if (ts.isIdentifier(node)) return [...names, node.text]
    if (ts.isPropertyAccessExpression(node)) {
      names.push(node.name.text)
      node = node.expression
    } else if (ts.isCallExpression(node)) {
      node = node.expression
    } else {
      return names
    }
  }
}

function isTitleCall(node: ts.Node): node is ts.CallExpression {
  return ts.isCallExpression(node) && calleeNames(node.expression).some((n) => TITLE_CALLS.has(n))
}

/** Table-driven cases (`{ name: '…', … }` fed to `it.each`) carry their title in `name`. */
function isCaseName(node: ts.Node): node is ts.PropertyAssignment {
  return ts.isPropertyAssignment(node) && ts.isIdentifier(node.name) && node.name.text === 'name'
}

function readTitles(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest)
  const titles: string[] = []
  const visit = (node: ts.Node): void => {
    const candidates = isTitleCall(node)
      ? node.arguments
      : isCaseName(node)
        ? [node.initializer]
        : []
    for (const candidate of candidates) {
      const title = textOf(candidate)
      if (title !== undefined) titles.push(title)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return titles
}

function collectTitledIds(): TitledId[] {
  const files = TEST_ROOTS.flatMap((root) => listTestFiles(join(ROOT, root)))
  return files.flatMap((path) => {
    const file = relative(ROOT, path).split(sep).join('/')
    return readTitles(path).flatMap((title) =>
      [...title.matchAll(ID)]
        .map((match) => match[0])
        .filter((id) => !JWS_ALGORITHM.test(id))
        .map((id) => ({ id, file, title })),
    )
  })
}

function readDefinedIds(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^\| ([A-Z]{1,2}[1-9][0-9]*) +\|/gm)].map((m) => m[1]!))
}

function readCitedTestFiles(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/`([\w./-]+\.test\.ts)`/g)].map((m) => m[1]!))
}

describe('requirement IDs (docs/requirements.md)', () => {
  const markdown = readFileSync(REQUIREMENTS, 'utf8')
  const defined = readDefinedIds(markdown)
  const titled = collectTitledIds()

  it('reads the IDs from test names and from the requirements page', () => {
    // Guards the two readers: if either found nothing, the check below would pass vacuously.
    expect(defined.size).toBeGreaterThan(100)
    const seen = new Set(titled.map((t) => t.id))
    for (const id of ['A4', 'B16', 'RS17', 'AS13', 'C15', 'F5', 'V1', 'D6']) {
      expect(seen, id).toContain(id)
    }
    expect(seen).not.toContain('RS256')
  })

  it('every ID in a test name is defined', () => {
    const undefinedIds = titled
      .filter((t) => !defined.has(t.id))
      .map((t) => `${t.id} in ${t.file}: "${t.title}"`)
    expect(undefinedIds).toEqual([])
  })

  it('every test file the page cites exists', () => {
    const missing = [...readCitedTestFiles(markdown)].filter((f) => !existsSync(join(ROOT, f)))
    expect(missing).toEqual([])
  })
})
