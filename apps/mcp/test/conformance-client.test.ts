/**
 * The conformance client (`src/conformance-client.ts`) as the suite runs it, on every Node: a
 * child process given the MCP server's URL, graded by its exit code. The suite itself needs
 * Node 22 or later (conformance.test.ts) and grades the successful run; here the client meets
 * the real Keybound stack, whose registration endpoint wants an initial access token the client
 * does not have, so it must report the refusal and exit 1 (the suite's "failed" verdict)
 * rather than hang or exit 0.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMcpStack, type McpStack } from '@keybound/test-kit/mcp-stack'
import { createMcpApp } from '../src/index.js'

const CLIENT = fileURLToPath(new URL('../dist/conformance-client.js', import.meta.url))

let stack: McpStack

beforeAll(async () => {
  stack = await startMcpStack({
    authorizationServer: {
      registration: {
        initialAccessToken: 'initial-access-token-0123456789',
        allowedScopes: ['mcp'],
      },
    },
    createApp: (base, issuer) => createMcpApp({ publicBaseUrl: base, issuer }).app,
  })
})
afterAll(() => stack?.close())

/** Runs the built client with `args` (the environment inherited, coverage included). */
async function runClient(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLIENT, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stderr }
}

describe('the conformance client', () => {
  it('without a server URL, prints its usage and exits 1', async () => {
    const { code, stderr } = await runClient([])
    expect(stderr).toBe(
      'conformance client failed: Error: usage: conformance-client <server-url>\n',
    )
    expect(code).toBe(1)
  })

  it("reports the AS's refusal to register it, and exits 1", async () => {
    const { code, stderr } = await runClient([stack.resource])
    expect(stderr).toMatch(/^conformance client failed: \w+: .*invalid_token/)
    expect(code).toBe(1)
  })
})
