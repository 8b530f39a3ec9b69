/**
 * `@keybound/client/node`: a key store that keeps the proof key in a JWK file, for CLIs,
 * daemons and servers that act as OAuth clients. The file is created on first use with mode
 * 0600, never rewritten in place (rotation writes a new file and renames it over the old one),
 * and refused when other users can read it, as ssh refuses a world-readable private key.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
 * @packageDocumentation
 * @module @keybound/client/node
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  exportKeyPair,
  generateKeyPair,
  importKeyPair,
  type DPoPKeyPair,
  type PrivateJwk,
} from '@keybound/core'
import { KeyStoreError } from './errors.js'
import type { KeyStore, KeyStoreOptions } from './keys.js'

export type { KeyStore, KeyStoreOptions } from './keys.js'

/** Options of {@link createFileKeyStore}. */
export interface FileKeyStoreOptions extends KeyStoreOptions {
  /** Path of the JWK file. Its directory is created (mode 0700) when missing. */
  path: string
}

const FILE_MODE = 0o600

async function newKeyJwk(options: FileKeyStoreOptions): Promise<PrivateJwk> {
  const pair = await generateKeyPair(options.alg ?? 'ES256', { extractable: true })
  return exportKeyPair(pair)
}

async function writeExclusive(path: string, jwk: PrivateJwk): Promise<boolean> {
  let handle
  try {
    // 'wx': fail if the file exists, so two processes starting at once agree on one key.
    handle = await open(path, 'wx', FILE_MODE)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  try {
    await handle.writeFile(`${JSON.stringify(jwk)}\n`, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  return true
}

async function readKey(path: string): Promise<DPoPKeyPair> {
  const info = await stat(path)
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw new KeyStoreError(`DPoP key file ${path} is accessible by other users (chmod 600 it)`, {
      reason: 'mode',
    })
  }
  let jwk: PrivateJwk
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as PrivateJwk
  } catch (cause) {
    throw new KeyStoreError(`DPoP key file ${path} is not a JSON Web Key`, {
      cause,
      reason: 'format',
    })
  }
  // Imported non-extractable: from here on the key can sign but not be read back.
  return importKeyPair(jwk)
}

/**
 * Creates a key store backed by a private JWK file (mode 0600), created on first use.
 * @example
 * ```ts
 * import { createFileKeyStore } from '@keybound/client/node'
 * const keys = createFileKeyStore({ path: `${os.homedir()}/.config/my-cli/dpop-key.json` })
 * const api = createDPoPFetch({ fetch, key: await keys.getKey() })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
 */
export function createFileKeyStore(options: FileKeyStoreOptions): KeyStore {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw new KeyStoreError('"path" of the key file is required')
  }
  const { path } = options
  let current: Promise<DPoPKeyPair> | undefined

  async function load(): Promise<DPoPKeyPair> {
    try {
      try {
        return await readKey(path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      // If another process won the race to create the file, its key is the one we read.
      await writeExclusive(path, await newKeyJwk(options))
      return await readKey(path)
    } catch (error) {
      if (error instanceof KeyStoreError) throw error
      throw new KeyStoreError(`DPoP key file ${path} could not be loaded or created`, {
        cause: error,
      })
    }
  }

  async function replace(): Promise<DPoPKeyPair> {
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      await writeExclusive(temporary, await newKeyJwk(options))
      await chmod(temporary, FILE_MODE)
      // rename is atomic: readers see the old key or the new one, never half a file.
      await rename(temporary, path)
      return await readKey(path)
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => {})
      if (error instanceof KeyStoreError) throw error
      throw new KeyStoreError(`DPoP key file ${path} could not be rotated`, { cause: error })
    }
  }

  return {
    getKey() {
      current ??= load().catch((error) => {
        current = undefined
        throw error
      })
      return current
    },
    rotate() {
      current = replace().catch((error) => {
        current = undefined
        throw error
      })
      return current
    },
    async delete() {
      current = undefined
      await rm(path, { force: true })
    },
  }
}
