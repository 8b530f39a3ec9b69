/**
 * The published packages install from a registry: every workspace package a published one
 * depends on is published too (not private, with a version), and what `npm pack` puts in each
 * tarball holds every file its `exports` and `bin` point to. The `keybound` CLI depends on
 * `@keybound/demo` for `keybound serve`, which once was private and would not have installed.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..')
const run = promisify(execFile)

interface Manifest {
  name: string
  version?: string
  private?: boolean
  bin?: Record<string, string>
  exports?: Record<string, string | Record<string, string>>
  dependencies?: Record<string, string>
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

/** Every file an `exports` map or `bin` names, without the leading `./`. */
function entryFiles(manifest: Manifest): string[] {
  const targets: string[] = Object.values(manifest.bin ?? {})
  for (const target of Object.values(manifest.exports ?? {})) {
    if (typeof target === 'string') targets.push(target)
    else targets.push(...Object.values(target))
  }
  return [...new Set(targets.map((target) => target.replace(/^\.\//, '')))]
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
    '%s: the tarball holds every file its exports and bin name',
    async (name) => {
      const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--workspace', name], {
        cwd: REPO_ROOT,
      })
      const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }]
      const files = new Set(packed.files.map((file) => file.path))
      for (const entry of entryFiles(readManifest(workspaces.get(name)!)))
        expect(files.has(entry), `${name} does not pack ${entry}`).toBe(true)
    },
    60_000,
  )
})
