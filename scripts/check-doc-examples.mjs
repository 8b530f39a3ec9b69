#!/usr/bin/env node
/**
 * `npm run docs:check-examples`: type-checks every ```ts code block of the READMEs and docs/*.md
 * against the built packages (run `npm run build` first), so that an example cannot drift from
 * the API it shows. Each block becomes one module in `.examples-check/` (gitignored); names the
 * examples take for granted (`accessToken`, `resourceServer`, `app`, …) are declared once in an
 * ambient file, and a block that declares a name itself shadows it. A block fenced as
 * ```ts nocheck is a deliberate fragment and is skipped. Errors are reported at the line of the
 * Markdown file; the exit code is non-zero when any block fails or none was found.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const workDir = join(root, '.examples-check')
const FENCE = /^(\s*)```(ts|typescript)(?:\s+(.*))?$/

// Names the examples use without declaring them: what a reader already has at that point.
const AMBIENT = `import type { IncomingMessage } from 'node:http'
import type { ProofKey, PublicJwk, TokenClient } from '@keybound/client'
import type { ResourceServer } from '@keybound/server'
import type { Express } from 'express'

declare global {
  const accessToken: string
  const nonce: string
  const token: { cnf: { jkt: string } }
  const tokens: TokenClient
  const key: ProofKey
  const body: BodyInit
  const request: Request
  const response: Response
  const req: IncomingMessage
  const resourceServer: ResourceServer
  const app: Express
  const ISSUER: string
  const publicJwk: PublicJwk
  const keyId: string
  function kmsSignRaw(keyId: string, signingInput: Uint8Array): Promise<Uint8Array>
}
`

const TSCONFIG = {
  extends: '../tsconfig.base.json',
  compilerOptions: {
    noEmit: true,
    composite: false,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    // An example shows a call and names its result for the reader; the result is often unused.
    noUnusedLocals: false,
    noUnusedParameters: false,
    types: ['node'],
  },
  include: ['*.ts'],
}

function markdownFiles() {
  const files = ['README.md']
  for (const parent of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, parent))) {
      const readme = join(parent, name, 'README.md')
      if (existsSync(join(root, readme))) files.push(readme)
    }
  }
  for (const name of readdirSync(join(root, 'docs'))) {
    if (name.endsWith('.md')) files.push(join('docs', name))
  }
  return files
}

/** The checked ```ts blocks of one Markdown file, each with the line its code starts on. */
function extractBlocks(file) {
  const lines = readFileSync(join(root, file), 'utf8').split('\n')
  const blocks = []
  let open
  lines.forEach((line, index) => {
    if (open === undefined) {
      const match = FENCE.exec(line)
      if (match === null) return
      open = {
        indent: match[1].length,
        skip: (match[3] ?? '').split(/\s+/).includes('nocheck'),
        startLine: index + 2,
        code: [],
      }
      return
    }
    if (/^\s*```\s*$/.test(line)) {
      if (!open.skip) blocks.push({ file, startLine: open.startLine, code: open.code.join('\n') })
      open = undefined
      return
    }
    open.code.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)))
  })
  return blocks
}

function moduleNameOf(block) {
  return `${block.file.replace(/[^A-Za-z0-9]+/g, '_')}_L${block.startLine}.ts`
}

function writeWorkspace(blocks) {
  rmSync(workDir, { recursive: true, force: true })
  mkdirSync(workDir)
  writeFileSync(join(workDir, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`)
  writeFileSync(join(workDir, 'ambient.ts'), `${AMBIENT}\nexport {}\n`)
  const byModule = new Map()
  for (const block of blocks) {
    const name = moduleNameOf(block)
    byModule.set(name, block)
    // `export {}` at the end keeps every block a module without moving its line numbers.
    writeFileSync(join(workDir, name), `${block.code}\nexport {}\n`)
  }
  return byModule
}

/** Rewrites `name.ts(3,7): error …` as `README.md:52:7: error …`. */
function mapDiagnostics(output, byModule) {
  return output.replace(/^([^\s(]+\.ts)\((\d+),(\d+)\)/gm, (whole, path, line, column) => {
    const block = byModule.get(relative(workDir, join(root, path)).replace(/^.*[\\/]/, ''))
    if (block === undefined) return whole
    return `${block.file}:${block.startLine + Number(line) - 1}:${column}`
  })
}

const blocks = markdownFiles().flatMap(extractBlocks)
if (blocks.length === 0) {
  console.error('no ```ts blocks found')
  process.exit(1)
}
const byModule = writeWorkspace(blocks)
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', workDir, '--pretty', 'false'],
  { cwd: root, encoding: 'utf8' },
)
const output = mapDiagnostics(`${tsc.stdout}${tsc.stderr}`, byModule).trim()
if (tsc.status !== 0) {
  console.error(output)
  console.error(`\n${blocks.length} examples checked; fix the ones above or fence them ts nocheck`)
  process.exit(1)
}
rmSync(workDir, { recursive: true, force: true })
console.log(`${blocks.length} TypeScript examples type-check`)
