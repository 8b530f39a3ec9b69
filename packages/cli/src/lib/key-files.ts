/**
 * Key files for the CLI: JWK (JSON) or PEM (PKCS #8 private, SPKI public), read from a file or
 * standard input, written with mode 0600 because they hold private keys.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import {
  exportKeyPair,
  importKeyPair,
  toPublicJwk,
  type DPoPAlgorithm,
  type DPoPKeyPair,
  type PrivateJwk,
  type PublicJwk,
} from '@keybound/core'
import { invalidArgument } from '@keybound/core/internal'

/** Reads a file, or standard input when the path is `-` or missing. */
export async function readInput(path: string | undefined): Promise<string> {
  if (path !== undefined && path !== '-') return readFile(path, 'utf8')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Parses a JWK or PEM key (public or private) into a JWK. */
export function parseKeyText(text: string): PublicJwk | PrivateJwk {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as PublicJwk
  if (trimmed.includes('PRIVATE KEY'))
    return createPrivateKey(trimmed).export({ format: 'jwk' }) as PrivateJwk
  if (trimmed.includes('PUBLIC KEY'))
    return createPublicKey(trimmed).export({ format: 'jwk' }) as PublicJwk
  throw invalidArgument('key', 'a JWK (JSON) or a PEM key')
}

/** Loads a private key file as a proof key pair. */
export async function loadKeyPair(path: string, alg?: DPoPAlgorithm): Promise<DPoPKeyPair> {
  const jwk = parseKeyText(await readInput(path))
  if (typeof (jwk as PrivateJwk).d !== 'string')
    throw invalidArgument('key', `a private key (${path} holds a public one)`)
  return importKeyPair(jwk as PrivateJwk, alg === undefined ? {} : { alg })
}

/** Serializes an extractable key pair as JWK or PEM. */
export async function serializeKeyPair(pair: DPoPKeyPair, format: 'jwk' | 'pem'): Promise<string> {
  const jwk = await exportKeyPair(pair)
  if (format === 'jwk') return `${JSON.stringify(jwk, null, 2)}\n`
  return createPrivateKey({ key: jwk as never, format: 'jwk' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString()
}

/**
 * Writes a private key file readable by its owner only. An existing file is kept unless
 * `replace` is set; it is then removed first, because overwriting in place would keep the old
 * file's mode, which may let others read the new private key.
 */
export async function writePrivateKeyFile(
  path: string,
  content: string,
  replace = false,
): Promise<void> {
  if (replace) await rm(path, { force: true })
  try {
    await writeFile(path, content, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    throw new Error(
      `${path} already exists; keygen does not overwrite a key: choose another --out, or add --force to replace it`,
    )
  }
}

export { toPublicJwk }
