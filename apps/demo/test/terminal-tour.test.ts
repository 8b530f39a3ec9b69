import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const tour = fileURLToPath(new URL('../dist/terminal-tour.js', import.meta.url))

describe('npm start (terminal tour of core)', () => {
  it('accepts the proof, then refuses the replay and the attacker key with their codes', async () => {
    const { stdout } = await run(process.execPath, [tour])
    expect(stdout).toMatch(
      /3\. The resource server verifies it\n\s+accepted: htm GET, htu https:\/\/api\.example\.com\/v1\/notes/,
    )
    expect(stdout).toMatch(
      /4\. An attacker replays the captured proof\n\s+refused: ERR_DPOP_REPLAYED/,
    )
    expect(stdout).toMatch(
      /5\. An attacker with the stolen token signs with their own key\n\s+refused: ERR_DPOP_KEY_BINDING_MISMATCH/,
    )
    expect(stdout).not.toMatch(/accepted, which must never happen/)
  })
})
