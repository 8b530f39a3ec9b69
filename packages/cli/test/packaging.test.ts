/**
 * The published packages install from a registry: every workspace package a published one
 * depends on is published too (not private, with a version), and what `npm pack` puts in each
 * tarball holds every file its `exports` and `bin` point to. The `keybound` CLI depends on
 * `@keybound/demo` for `keybound serve`, which once was private and would not have installed.
 * And every package the built code imports is declared by the package that imports it (the
 * Redis store once imported `redis`, a devDependency that only the monorepo's hoisting found).
 * Each carries what a registry page and an older resolver need (LICENSE, README, repository,
 * homepage, keywords, `types` and `main`), depends on its siblings by a real semver range (they
 * once shipped as `"*"`), says in its README how to install it while it is not on the registry,
 * and docs/publishing.md publishes all of them, each after the packages it depends on.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..')
const run = promisify(execFile)

interface Manifest {
  name: string
  version?: string
  private?: boolean
  license?: string
  repository?: { type: string; url: string; directory?: string }
  homepage?: string
  keywords?: string[]
  types?: string
  main?: string
  bin?: Record<string, string>
  exports?: Record<string, string | Record<string, string>>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

function readManifest(folder: string): Manifest {
  return JSON.parse(readFileSync(join(REPO_ROOT, folder, 'package.json'), 'utf8')) as Manifest
}

const rootManifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  workspaces: string[]
}
// The published packages live under packages/ and apps/ (bench and interop are private tools).
const WORKSPACE_FOLDERS = ['packages', 'apps'].flatMap((parent) =>
  readdirSync(join(REPO_ROOT, parent))
    .map((child) => join(parent, child))
    .filter((folder) => existsSync(join(REPO_ROOT, folder, 'package.json'))),
)
const workspaces = new Map(
  WORKSPACE_FOLDERS.map((folder) => [readManifest(folder).name, folder] as const),
)
const published = [...workspaces.keys()].filter(
  (name) => readManifest(workspaces.get(name)!).private !== true,
)

/** Every file an `exports` map, `bin`, `types` or `main` names, without the leading `./`. */
function entryFiles(manifest: Manifest): string[] {
  const targets: string[] = Object.values(manifest.bin ?? {})
  for (const fallback of [manifest.types, manifest.main]) if (fallback) targets.push(fallback)
  for (const target of Object.values(manifest.exports ?? {})) {
    if (typeof target === 'string') targets.push(target)
    else targets.push(...Object.values(target))
  }
  return [...new Set(targets.map((target) => target.replace(/^\.\//, '')))]
}

/** The `.js` files under a folder, recursively. */
function javascriptFiles(folder: string): string[] {
  if (!existsSync(folder)) return []
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => join(entry.parentPath, entry.name))
}

// Static imports and re-exports, side-effect imports, import('x') and require('x') with a
// literal specifier. TSDoc examples are cut first: they show imports of the user's code.
const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*|\bimport\(\s*|\brequire\(\s*)(['"])([\w@.:/-][^'"\s]*)\1/g

/** The bare specifiers (package names, no subpath) that JavaScript source imports at run time. */
function importedPackages(source: string): string[] {
  const code = source.replace(/\/\*\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const names = new Set<string>()
  for (const match of code.matchAll(SPECIFIER)) {
    // Group 2 is not optional, so every match has it.
    const specifier = match[2]!
    // node: specifiers are builtins even where this Node lacks one (node:sqlite on Node 20).
    if (/^[./]|^node:/.test(specifier) || isBuiltin(specifier)) continue
    const parts = specifier.split('/')
    names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!)
  }
  return [...names].sort()
}

/** The packages a manifest lets its code import: itself and what it declares for run time. */
function declaredAtRunTime(manifest: Manifest): Set<string> {
  return new Set([
    manifest.name,
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    ...Object.keys(manifest.optionalDependencies ?? {}),
  ])
}

/** The ranges a manifest gives the packages it needs: dependencies, peers, optional ones. */
function runTimeRanges(manifest: Manifest): [string, string][] {
  return Object.entries({
    ...manifest.dependencies,
    ...manifest.peerDependencies,
    ...manifest.optionalDependencies,
  })
}

/** The workspace packages an install of `name` needs beside it (dependencies, transitively). */
function workspaceClosure(name: string, found = new Set<string>()): Set<string> {
  found.add(name)
  for (const dependency of Object.keys(readManifest(workspaces.get(name)!).dependencies ?? {}))
    if (workspaces.has(dependency) && !found.has(dependency)) workspaceClosure(dependency, found)
  return found
}

/** The file `npm pack` writes for a package: `@keybound/core` 0.1.0 → keybound-core-0.1.0.tgz. */
function tarballName(name: string): string {
  const { version } = readManifest(workspaces.get(name)!)
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`
}

const ROOT_LICENSE = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8')
const PUBLISHING = readFileSync(join(REPO_ROOT, 'docs', 'publishing.md'), 'utf8')

/** The package names in the command of docs/publishing.md that `pattern` captures. */
function namesInPublishing(pattern: RegExp): string[] {
  const command = pattern.exec(PUBLISHING)?.[1] ?? ''
  return command
    .replace(/\\\n/g, ' ')
    .split(/\s+/)
    .filter((word) => /^(@keybound\/)?[a-z][\w-]*$/.test(word) && workspaces.has(word))
}

describe('packaging: what npm publishes', () => {
  it('finds the workspaces (the root lists packages/* and apps/*)', () => {
    expect(rootManifest.workspaces).toEqual(expect.arrayContaining(['packages/*', 'apps/*']))
    expect(workspaces.has('keybound')).toBe(true)
    expect(workspaces.has('@keybound/demo')).toBe(true)
  })

  it.each(published)('%s depends only on workspace packages that are published', (name) => {
    const manifest = readManifest(workspaces.get(name)!)
    for (const dependency of Object.keys(manifest.dependencies ?? {})) {
      const folder = workspaces.get(dependency)
      if (folder === undefined) continue
      const target = readManifest(folder)
      expect(target.private, `${name} needs ${dependency}, which is private`).not.toBe(true)
      expect(target.version, `${dependency} has no version`).toMatch(/^\d+\.\d+\.\d+/)
    }
  })

  it.each(published)(
    '%s: the tarball holds LICENSE, README.md and every file its exports, bin, types and main name',
    async (name) => {
      const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--workspace', name], {
        cwd: REPO_ROOT,
      })
      const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }]
      const files = new Set(packed.files.map((file) => file.path))
      for (const entry of [
        'LICENSE',
        'README.md',
        ...entryFiles(readManifest(workspaces.get(name)!)),
      ])
        expect(files.has(entry), `${name} does not pack ${entry}`).toBe(true)
    },
    60_000,
  )

  it('the import scan finds static, dynamic and require imports and skips builtins and docs', () => {
    const source = [
      "import { a } from 'left'",
      "export * from '@scope/right/sub'",
      "import 'side-effect'",
      "const lazy = await import('lazy')",
      "const native = require('native/build')",
      "import { readFile } from 'node:fs'",
      "import path from 'path'",
      "import { near } from './near.js'",
      "/**\n * import express from 'express'\n */",
      "// import fastify from 'fastify'",
    ].join('\n')
    expect(importedPackages(source)).toEqual([
      '@scope/right',
      'lazy',
      'left',
      'native',
      'side-effect',
    ])
  })

  it.each(published)(
    '%s: every package its built code imports is a dependency, peer or optional dependency',
    (name) => {
      const folder = workspaces.get(name)!
      const manifest = readManifest(folder)
      const declared = declaredAtRunTime(manifest)
      const files = [
        ...javascriptFiles(join(REPO_ROOT, folder, 'dist')),
        ...javascriptFiles(join(REPO_ROOT, folder, 'bin')),
      ]
      expect(files.length, `${name} has no built code: run tsc -b first`).toBeGreaterThan(0)
      const undeclared = files.flatMap((file) =>
        importedPackages(readFileSync(file, 'utf8'))
          .filter((imported) => !declared.has(imported))
          .map((imported) => `${imported} (imported by ${file.slice(REPO_ROOT.length + 1)})`),
      )
      expect(undeclared, `${name} imports packages it does not declare`).toEqual([])
    },
  )
  it.each(published)(
    '%s: license, repository, homepage, keywords, types and main for the registry page',
    (name) => {
      const folder = workspaces.get(name)!
      const manifest = readManifest(folder)
      expect(manifest.license).toBe('Apache-2.0')
      expect(readFileSync(join(REPO_ROOT, folder, 'LICENSE'), 'utf8')).toBe(ROOT_LICENSE)
      expect(manifest.repository).toEqual({
        type: 'git',
        url: 'git+https://github.com/keybound/keybound.git',
        directory: folder,
      })
      expect(manifest.homepage).toBe(
        `https://github.com/keybound/keybound/tree/main/${folder}#readme`,
      )
      expect(manifest.keywords?.length, `${name} has no keywords`).toBeGreaterThan(0)
      expect(manifest.types, `${name} has no top-level types`).toMatch(/\.d\.ts$/)
      expect(manifest.main, `${name} has no top-level main`).toMatch(/\.js$/)
    },
  )

  it.each(published)('%s: depends on its siblings by the caret range of their version', (name) => {
    for (const [dependency, range] of runTimeRanges(readManifest(workspaces.get(name)!))) {
      const folder = workspaces.get(dependency)
      if (folder === undefined) continue
      expect(range, `${name} -> ${dependency}`).toBe(`^${readManifest(folder).version}`)
    }
  })

  it.each(published)(
    '%s: the README says how to install it from tarballs while it is not on the registry',
    (name) => {
      const readme = readFileSync(join(REPO_ROOT, workspaces.get(name)!, 'README.md'), 'utf8')
      expect(readme).toMatch(/^## Install$/m)
      expect(readme).toContain('not on the npm registry yet')
      // Every tarball the install needs, at the current version, or the instructions 404.
      for (const needed of workspaceClosure(name)) expect(readme).toContain(tarballName(needed))
    },
  )

  it('docs/publishing.md versions every published package and publishes it after its needs', () => {
    const versioned = namesInPublishing(/npm version ((?:[^\n]*\\\n)*[^\n]*)/)
    expect([...versioned].sort()).toEqual([...published].sort())
    const order = namesInPublishing(/for workspace in ([\s\S]*?); do/)
    expect([...order].sort()).toEqual([...published].sort())
    for (const [position, name] of order.entries())
      for (const [dependency] of runTimeRanges(readManifest(workspaces.get(name)!)))
        if (workspaces.has(dependency))
          expect(order.indexOf(dependency), `${dependency} before ${name}`).toBeLessThan(position)
  })
})
