/**
 * The MCP conformance suite's DPoP client scenarios against this repository's MCP client
 * (`src/conformance-client.ts`): `@modelcontextprotocol/conformance`, pinned at exactly
 * 0.2.0-alpha.12, runs its own test authorization server and MCP server for each scenario,
 * starts our client as a child process with the server URL, and grades what it saw.
 *
 * The suite needs Node 22 or later (it imports `fs.globSync`); on Node 20 the scenarios are
 * skipped, and `.ci/run` runs this file again under Node 22, 24 and 26.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const SUITE_VERSION = '0.2.0-alpha.12'
const SUITE_DIR = join(require.resolve('@modelcontextprotocol/conformance/package.json'), '..')
const CLIENT = fileURLToPath(new URL('../dist/conformance-client.js', import.meta.url))
const NODE_MAJOR = Number(process.versions.node.split('.')[0])

interface Run {
  code: number | null
  output: string
}

/** Runs one scenario with our client under the current Node; its results go to a temp folder. */
async function runScenario(scenario: string): Promise<Run> {
  const workDir = await mkdtemp(join(tmpdir(), 'kb-mcp-conformance-'))
  try {
    const child = spawn(
      process.execPath,
      [
        join(SUITE_DIR, 'dist/index.js'),
        'client',
        '--command',
        `"${process.execPath}" "${CLIENT}"`,
        '--scenario',
        scenario,
        '--timeout',
        '60000',
      ],
      { cwd: workDir, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    return { code, output }
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }
}

describe('the pinned MCP conformance suite', () => {
  it('is exactly 0.2.0-alpha.12', async () => {
    const manifest = JSON.parse(await readFile(join(SUITE_DIR, 'package.json'), 'utf8'))
    expect(manifest.version).toBe(SUITE_VERSION)
  })
})

describe.skipIf(NODE_MAJOR < 22)(
  'MCP conformance DPoP client scenarios (C19; skipped on Node 20: the suite imports fs.globSync, Node 22+)',
  () => {
    it.each([
      ['auth/dpop', 12],
      ['auth/dpop-nonce', 14],
    ])(
      'C19: %s passes every check',
      async (scenario, checks) => {
        const { code, output } = await runScenario(scenario)
        // The suite prints "Passed: N/N, 0 failed" and exits 0 only when every check passed.
        expect(output).toContain(`Passed: ${checks}/${checks}, 0 failed`)
        expect(output).toContain('OVERALL: PASSED')
        expect(code).toBe(0)
      },
      120_000,
    )
  },
)
