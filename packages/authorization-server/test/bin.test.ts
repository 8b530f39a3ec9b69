/**
 * The `keybound-as` command as a child process: usage instead of a guessed file name, the
 * README's sample config checked as the README prints it (so the sample cannot rot), one line
 * per unset variable, a numeric `subject` refused with the fix, and a busy port named with the
 * flag that moves it.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
const README = fileURLToPath(new URL('../README.md', import.meta.url))

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

// Only the variables a test names: no DATABASE_URL or REDIS_URL from the suite's environment.
function runAs(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** The first YAML block of the README's "Configuration" section, exactly as printed. */
async function readmeSampleConfig(): Promise<string> {
  const readme = await readFile(README, 'utf8')
  const section = readme.slice(readme.indexOf('\n## Configuration\n'))
  const match = /\n```yaml\n([\s\S]*?)\n```\n/.exec(section)
  if (match === null) throw new Error('no yaml block in the README Configuration section')
  return `${match[1]}\n`
}

function variablesOf(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!))]
}

let workDir: string

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'keybound-as-bin-'))
})

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true })
})

describe('keybound-as usage', () => {
  it('prints usage for help, --help and -h, and on stderr with exit 2 without a command', async () => {
    for (const word of ['help', '--help', '-h']) {
      const result = await runAs([word])
      expect(result.code, word).toBe(0)
      expect(result.stdout).toMatch(/^Usage: keybound-as <command>/)
      expect(result.stdout).toMatch(/serve --config <file>/)
    }
    const bare = await runAs([])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toMatch(/^Usage: keybound-as <command>/)
    expect(bare.stderr).not.toMatch(/ENOENT/)
  })

  it('serve --help marks --config required; serve without it names the option', async () => {
    const help = await runAs(['serve', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/-c, --config <file> .*required/)
    const missing = await runAs(['serve'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(
      'missing required option: -c, --config <file> (or KEYBOUND_CONFIG)\n',
    )
  })
})

describe("the README's sample config", () => {
  it('passes serve --check with its variables set', async () => {
    const sample = await readmeSampleConfig()
    const variables = variablesOf(sample)
    expect(variables.length).toBeGreaterThan(0)
    const path = join(workDir, 'readme-sample.yaml')
    await writeFile(path, sample)
    const env = Object.fromEntries(
      variables.map((name) => [name, `${name}-value-0123456789abcdefghij`]),
    )
    const result = await runAs(['serve', '--config', path, '--check'], env)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^.*readme-sample\.yaml: OK \(\d+ clients, \d+ users\)\n$/)
  })

  it('names each unset variable on one line and nothing that only follows from it', async () => {
    const sample = await readmeSampleConfig()
    const path = join(workDir, 'readme-sample-unset.yaml')
    await writeFile(path, sample)
    const result = await runAs(['serve', '--config', path, '--check'])
    expect(result.code).toBe(1)
    const lines = result.stderr.trimEnd().split('\n')
    expect(lines[0]).toBe('invalid configuration:')
    const variables = variablesOf(sample)
    expect(lines.slice(1)).toHaveLength(variables.length)
    for (const name of variables)
      expect(result.stderr).toMatch(new RegExp(`: environment variable ${name} is not set\\n`))
  })
})

describe('keybound-as serve', () => {
  it('refuses a bare numeric subject and says to quote it', async () => {
    const path = join(workDir, 'numeric-subject.yaml')
    await writeFile(
      path,
      'users:\n  - username: alice\n    passwordHash: $scrypt$ln=17,r=8,p=1$Ee8eOTDs185Q4AdayA9Cug$bQFCdOa69GyoBBGg469njwBvlFyVx/KZqQiKBWlPApw\n    subject: 248289761001\n',
    )
    const result = await runAs(['serve', '--config', path, '--check'])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      'invalid configuration:\n  users[0].subject: must be a string: put it in quotes (YAML reads bare digits as a number)\n',
    )
  })

  it('names --port when the port is already in use', async () => {
    const busy: Server = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const port = (busy.address() as AddressInfo).port
    try {
      const path = join(workDir, 'busy.yaml')
      await writeFile(path, `storage: { dataDir: ${JSON.stringify(join(workDir, 'busy-data'))} }\n`)
      const result = await runAs(['serve', '--config', path, '--port', String(port)])
      expect(result.code).toBe(1)
      expect(result.stderr).toBe(
        `port ${port} on 127.0.0.1 is already in use: choose another with --port (or PORT)\n`,
      )
    } finally {
      await new Promise((resolve) => busy.close(resolve))
    }
  })
})
