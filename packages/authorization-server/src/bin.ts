#!/usr/bin/env node
/**
 * `keybound-as`: run the authorization server, rotate its signing keys, hash a password.
 *
 * ```
 * keybound-as serve --config keybound-as.yaml [--port 8443] [--host 0.0.0.0]
 * keybound-as rotate-keys --config keybound-as.yaml
 * keybound-as hash-password            (reads the password from stdin)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from './config.js'
import { hashPassword } from './passwords.js'
import { createAuthorizationServer } from './server.js'
import { rotateSigningKeys } from './signing-keys.js'
import { openDatabase } from './storage/database.js'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

async function serve(configPath: string, port: number, host: string): Promise<void> {
  const server = await createAuthorizationServer(await loadConfigFile(configPath))
  const issuer = await server.listen({ port, host })
  // The parent (a supervisor or a test) reads this line to learn the issuer.
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`)
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

async function rotate(configPath: string): Promise<void> {
  const config = await loadConfigFile(configPath)
  const { db } = await openDatabase(config.storage)
  try {
    await rotateSigningKeys(db, {
      alg: config.signing.alg,
      retireAfter: config.accessTokens.lifetime + 60,
    })
    process.stdout.write('signing key rotated; running servers pick it up within 30 s\n')
  } finally {
    await db.destroy()
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      config: {
        type: 'string',
        short: 'c',
        default: process.env.KEYBOUND_CONFIG ?? 'keybound-as.yaml',
      },
      port: { type: 'string', short: 'p', default: process.env.PORT ?? '8443' },
      host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    },
  })
  const command = positionals[0] ?? 'serve'
  if (command === 'serve') return serve(values.config, Number(values.port), values.host)
  if (command === 'rotate-keys') return rotate(values.config)
  if (command === 'hash-password') {
    process.stdout.write(`${await hashPassword(await readStdin())}\n`)
    return
  }
  throw new Error(`unknown command "${command}" (serve, rotate-keys, hash-password)`)
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : String((error as Error)?.message ?? error)}\n`,
  )
  process.exit(1)
})
