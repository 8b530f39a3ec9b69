/**
 * `keybound keygen` and `keybound thumbprint`.
 */
import type { Command } from 'commander'
import {
  calculateJwkThumbprint,
  generateKeyPair,
  type DPoPAlgorithm,
  type PublicJwk,
} from '@keybound/core'
import { algorithmOption } from '../lib/algorithm-option.js'
import {
  parseKeyText,
  readInput,
  serializeKeyPair,
  toPublicJwk,
  writePrivateKeyFile,
} from '../lib/key-files.js'
import { printResult } from '../lib/output.js'
import { closeProofKey, isPkcs11Uri, openPkcs11Key, pinEnvOption } from '../lib/pkcs11-keys.js'

interface KeygenOptions {
  alg: DPoPAlgorithm
  out?: string
  format: string
  json?: boolean
  force?: boolean
  pkcs11?: string
  pinEnv?: string
}

/**
 * Creates the key on the token, never reusing one: a key already under the URI may be bound to
 * tokens elsewhere, and printing it as "new" would hide that.
 */
async function createTokenKey(options: KeygenOptions & { pkcs11: string }): Promise<void> {
  if (!isPkcs11Uri(options.pkcs11)) throw new Error('--pkcs11 takes a pkcs11: URI')
  if (options.out !== undefined || options.force || options.format !== 'jwk')
    throw new Error('--pkcs11 writes no key file: --out, --force and --format do not apply')
  const existing = await openPkcs11Key('keygen', options.pkcs11, options).catch(
    (error: { code?: unknown; reason?: unknown }) => {
      if (error.code === 'ERR_DPOP_PKCS11_KEY_NOT_FOUND' && error.reason === 'missing')
        return undefined
      throw error
    },
  )
  if (existing !== undefined) {
    await closeProofKey(existing)
    throw new Error(
      'the token already holds a key under this URI; keygen never replaces a key (keybound thumbprint <uri> shows it)',
    )
  }
  const signer = await openPkcs11Key('keygen', options.pkcs11, options, true)
  await closeProofKey(signer)
  printResult(
    options.json === true,
    { alg: signer.alg, jkt: signer.jkt, publicJwk: signer.publicJwk },
    [
      `alg: ${signer.alg}`,
      `jkt: ${signer.jkt}`,
      `public JWK: ${JSON.stringify(signer.publicJwk)}`,
      'private key created on the token (non-extractable, sensitive); no key file written',
    ],
  )
}

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
    .option(
      '--pkcs11 <uri>',
      'create the key on a PKCS#11 token (ES256, PS256, RS256, EdDSA); it never leaves the token',
    )
    .addOption(pinEnvOption())
    .action(async (options: KeygenOptions) => {
      if (options.pkcs11 !== undefined)
        return createTokenKey({ ...options, pkcs11: options.pkcs11 })
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
    })
}

/** Registers `thumbprint`. */
export function addThumbprintCommand(program: Command): void {
  program
    .command('thumbprint')
    .description(
      'RFC 7638 SHA-256 thumbprint (cnf.jkt / dpop_jkt) of a JWK or PEM key, or of a key on a PKCS#11 token',
    )
    .argument(
      '[file]',
      'key file (JWK or PEM, public or private) or pkcs11: URI; - or nothing reads stdin',
    )
    .addOption(algorithmOption('with a pkcs11: key: its algorithm (default ES256)'))
    .addOption(pinEnvOption())
    .option('--json', 'print JSON')
    .action(
      async (
        file: string | undefined,
        options: { json?: boolean; alg?: DPoPAlgorithm; pinEnv?: string },
      ) => {
        const { jkt, publicJwk } = await readPublicKey(file, options)
        printResult(options.json === true, { jkt, publicJwk }, [jkt])
      },
    )
}

async function readPublicKey(
  file: string | undefined,
  options: { alg?: DPoPAlgorithm; pinEnv?: string },
): Promise<{ jkt: string; publicJwk: PublicJwk }> {
  if (isPkcs11Uri(file)) {
    const signer = await openPkcs11Key('thumbprint', file, options)
    await closeProofKey(signer)
    return { jkt: signer.jkt, publicJwk: signer.publicJwk }
  }
  const publicJwk = toPublicJwk(parseKeyText(await readInput(file)))
  return { jkt: await calculateJwkThumbprint(publicJwk), publicJwk }
}
