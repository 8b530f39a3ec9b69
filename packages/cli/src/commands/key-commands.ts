/**
 * `keybound keygen` and `keybound thumbprint`.
 */
import type { Command } from 'commander'
import { calculateJwkThumbprint, generateKeyPair, type DPoPAlgorithm } from '@keybound/core'
import { algorithmOption } from '../lib/algorithm-option.js'
import {
  parseKeyText,
  readInput,
  serializeKeyPair,
  toPublicJwk,
  writePrivateKeyFile,
} from '../lib/key-files.js'
import { printResult } from '../lib/output.js'

/** Registers `keygen`. */
export function addKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('make a DPoP key pair; the private key goes to --out (mode 0600) or stdout')
    .addOption(algorithmOption('algorithm of the new key').default('ES256'))
    .option('-o, --out <file>', 'write the private key to this file (mode 0600)')
    .option('--force', 'with --out: replace an existing file')
    .option('-f, --format <format>', 'jwk or pem', 'jwk')
    .option('--json', 'print the public JWK and thumbprint as JSON')
    .action(
      async (options: {
        alg: DPoPAlgorithm
        out?: string
        format: string
        json?: boolean
        force?: boolean
      }) => {
        if (options.format !== 'jwk' && options.format !== 'pem')
          throw new Error('--format must be jwk or pem')
        const pair = await generateKeyPair(options.alg, { extractable: true })
        const privateText = await serializeKeyPair(pair, options.format)
        if (options.out === undefined) process.stdout.write(privateText)
        else await writePrivateKeyFile(options.out, privateText, options.force === true)
        const summary = {
          alg: pair.alg,
          jkt: pair.jkt,
          publicJwk: pair.publicJwk,
          ...(options.out ? { file: options.out } : {}),
        }
        if (options.out !== undefined || options.json) {
          printResult(options.json === true, summary, [
            `alg: ${pair.alg}`,
            `jkt: ${pair.jkt}`,
            `public JWK: ${JSON.stringify(pair.publicJwk)}`,
            ...(options.out ? [`private key written to ${options.out} (mode 0600)`] : []),
          ])
        }
      },
    )
}

/** Registers `thumbprint`. */
export function addThumbprintCommand(program: Command): void {
  program
    .command('thumbprint')
    .description('RFC 7638 SHA-256 thumbprint (cnf.jkt / dpop_jkt) of a JWK or PEM key')
    .argument('[file]', 'key file (JWK or PEM, public or private); - or nothing reads stdin')
    .option('--json', 'print JSON')
    .action(async (file: string | undefined, options: { json?: boolean }) => {
      const jwk = toPublicJwk(parseKeyText(await readInput(file)))
      const jkt = await calculateJwkThumbprint(jwk)
      printResult(options.json === true, { jkt, publicJwk: jwk }, [jkt])
    })
}
