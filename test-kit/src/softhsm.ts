/**
 * A SoftHSM2 of its own for each test process: a temporary token directory, a config file
 * pointed to by SOFTHSM2_CONF (read by the module at C_Initialize), and tokens initialized with
 * softhsm2-util. Removal is simulated the way it looks to SoftHSM2: the token directory
 * disappears (its object handles go invalid at once) and comes back (the module sees it again
 * after a re-initialization).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where Debian's softhsm2 package puts the module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const SOFTHSM_UTIL = '/usr/bin/softhsm2-util'

export interface SoftHsm {
  readonly dir: string
  /** A new token with this label and user PIN. */
  initToken(label: string, pin: string): void
  /** New tokens with these labels, all with the same user PIN. */
  initTokens(labels: readonly string[], pin: string): void
  /** Moves every token out of SoftHSM2's sight (what a pulled USB token looks like to it). */
  removeTokens(): void
  /** Puts them back. */
  reinsertTokens(): void
  cleanup(): void
}

/**
 * Sets SOFTHSM2_CONF for this process. Fails loudly (never skips) when SoftHSM2 is missing:
 * `.ci/run` installs it (`apt-get install -y softhsm2`).
 */
export function startSoftHsm(): SoftHsm {
  if (!existsSync(SOFTHSM_MODULE) || !existsSync(SOFTHSM_UTIL)) {
    throw new Error(
      `SoftHSM2 is not installed (${SOFTHSM_MODULE}, ${SOFTHSM_UTIL}); run: apt-get install -y softhsm2`,
    )
  }
  const dir = mkdtempSync(join(tmpdir(), 'keybound-softhsm-'))
  const tokens = join(dir, 'tokens')
  const away = join(dir, 'tokens-removed')
  rmSync(tokens, { recursive: true, force: true })
  mkdirSync(tokens)
  const conf = join(dir, 'softhsm2.conf')
  writeFileSync(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  )
  process.env.SOFTHSM2_CONF = conf
  return {
    dir,
    initToken(label, pin) {
      execFileSync(
        SOFTHSM_UTIL,
        ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', `so-${pin}`],
        { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' },
      )
    },
    initTokens(labels, pin) {
      for (const label of labels) this.initToken(label, pin)
    },
    removeTokens() {
      renameSync(tokens, away)
      mkdirSync(tokens)
    },
    reinsertTokens() {
      rmSync(tokens, { recursive: true, force: true })
      renameSync(away, tokens)
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
