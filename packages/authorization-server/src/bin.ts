#!/usr/bin/env node
/**
 * `keybound-as`: run the authorization server, rotate its signing keys, hash a password.
 *
 * ```
 * keybound-as serve --config my-as.yaml [--port 8443] [--host 0.0.0.0] [--check]
 * keybound-as rotate-keys --config my-as.yaml
 * keybound-as hash-password            (reads the password from stdin)
 * keybound-as help
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from './config.js'
import { openHsmKeyring } from './keys/hsm-keys.js'
import { hashPassword } from './users/passwords.js'
import { requireConfigPath, runServeCommand } from './serve-command.js'
import { rotateSigningKeys } from './keys/signing-keys.js'
import { openDatabase } from './storage/database.js'

const USAGE = `Usage: keybound-as <command> [options]

Commands:
  serve --config <file>        run the authorization server (keybound-as serve --help)
  rotate-keys --config <file>  make a new signing key (on the PKCS#11 token with
                               signing.pkcs11); running servers use it within 30 s
  hash-password                read a password on stdin, print the hash for users[].passwordHash
  help                         print this help

The config file format is described in the @keybound/authorization-server README.
`

const HELP_WORDS = new Set(['help', '--help', '-h'])

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

async function rotate(configPath: string): Promise<void> {
  const config = await loadConfigFile(configPath)
  const { db } = await openDatabase(config.storage)
  const pkcs11 = config.signing.pkcs11
  const hsm = pkcs11 === undefined ? undefined : await openHsmKeyring(pkcs11).catch(closing(db))
  try {
    await rotateSigningKeys(db, {
      alg: config.signing.alg,
      retireAfter: config.accessTokens.lifetime + 60,
      hsm,
    })
    process.stdout.write('signing key rotated; running servers pick it up within 30 s\n')
  } finally {
    await hsm?.close()
    await db.destroy()
  }
}

function closing(db: { destroy(): Promise<void> }): (error: unknown) => Promise<never> {
  return async (error) => {
    await db.destroy()
    throw error
  }
}

function readConfigPath(args: readonly string[]): string {
  const { values } = parseArgs({
    args: [...args],
    options: { config: { type: 'string', short: 'c' } },
  })
  return requireConfigPath(values.config, process.env)
}

async function main(args: readonly string[]): Promise<void> {
  const [command, ...rest] = args
  // Without a command there is nothing sensible to guess (serving a default file name only
  // ended in ENOENT): show what can be run, as an error since nothing was done.
  if (command === undefined) {
    process.stderr.write(USAGE)
    process.exitCode = 2
    return
  }
  if (HELP_WORDS.has(command)) {
    process.stdout.write(USAGE)
    return
  }
  if (command === 'serve') return runServeCommand(rest)
  if (command === 'rotate-keys') return rotate(readConfigPath(rest))
  if (command === 'hash-password') {
    process.stdout.write(`${await hashPassword(await readStdin())}\n`)
    return
  }
  throw new Error(`unknown command "${command}": run keybound-as help`)
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : String((error as Error)?.message ?? error)}\n`,
  )
  process.exit(1)
})
