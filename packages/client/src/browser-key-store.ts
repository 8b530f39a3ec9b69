/**
 * A browser key store: the private key is a non-extractable WebCrypto `CryptoKey` persisted in
 * IndexedDB. IndexedDB stores `CryptoKey`s by structured clone, keeping them non-extractable, so
 * the key survives reloads while page script can still only sign with it, never read it
 * (RFC 9449 §11.4). This module has no `node:` imports and touches IndexedDB only when used.
 * @packageDocumentation
 */
import { generateKeyPair, type DPoPAlgorithm, type DPoPKeyPair } from '@keybound/core'
import { KeyStoreError } from './errors.js'
import { keyPairFromCryptoKeys, type KeyStore, type KeyStoreOptions } from './keys.js'

/** Options of {@link createBrowserKeyStore}. */
export interface BrowserKeyStoreOptions extends KeyStoreOptions {
  /** IndexedDB database name (default `keybound`). */
  database?: string
  /** Record name inside the database, one per key (default `dpop-key`). */
  name?: string
  /** The `IDBFactory` to use (default `globalThis.indexedDB`). */
  indexedDB?: IDBFactory
}

interface StoredKey {
  alg: DPoPAlgorithm
  privateKey: CryptoKey
  publicKey: CryptoKey
}

const STORE = 'keys'

function promisify<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

function openDatabase(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  const request = factory.open(name, 1)
  request.onupgradeneeded = () => {
    if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE)
  }
  return promisify(request)
}

async function withStore<T>(
  factory: IDBFactory,
  database: string,
  mode: IDBTransactionMode,
  action: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await openDatabase(factory, database)
  try {
    const transaction = db.transaction(STORE, mode)
    const result = await promisify(action(transaction.objectStore(STORE)))
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve()
      transaction.onerror = () => reject(transaction.error)
      transaction.onabort = () => reject(transaction.error)
    })
    return result
  } finally {
    db.close()
  }
}

/**
 * Creates a key store backed by IndexedDB. The key is generated non-extractable on first use
 * and loaded from IndexedDB afterwards (also after a reload).
 * @example
 * ```ts
 * const keys = createBrowserKeyStore({ name: 'my-app' })
 * const key = await keys.getKey()
 * const api = createDPoPFetch({ fetch, key, accessToken: () => tokens.getAccessToken() })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.4
 */
export function createBrowserKeyStore(options: BrowserKeyStoreOptions = {}): KeyStore {
  const alg = options.alg ?? 'ES256'
  const database = options.database ?? 'keybound'
  const name = options.name ?? 'dpop-key'
  const factory = (): IDBFactory => {
    const found = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
    if (found === undefined) throw new KeyStoreError('IndexedDB is not available here')
    return found
  }
  let current: Promise<DPoPKeyPair> | undefined

  async function create(): Promise<DPoPKeyPair> {
    const pair = await generateKeyPair(alg) // non-extractable private key
    const record: StoredKey = { alg, privateKey: pair.privateKey, publicKey: pair.publicKey }
    await withStore(factory(), database, 'readwrite', (store) => store.put(record, name))
    return pair
  }

  async function load(): Promise<DPoPKeyPair> {
    try {
      const stored = await withStore<StoredKey | undefined>(
        factory(),
        database,
        'readonly',
        (store) => store.get(name),
      )
      if (stored === undefined) return await create()
      return await keyPairFromCryptoKeys(stored.alg, stored.privateKey, stored.publicKey)
    } catch (error) {
      if (error instanceof KeyStoreError) throw error
      throw new KeyStoreError('loading the DPoP key from IndexedDB failed', { cause: error })
    }
  }

  return {
    getKey() {
      current ??= load().catch((error) => {
        current = undefined // let the next call try again
        throw error
      })
      return current
    },
    rotate() {
      current = create().catch((error) => {
        current = undefined
        throw new KeyStoreError('storing the new DPoP key in IndexedDB failed', { cause: error })
      })
      return current
    },
    async delete() {
      current = undefined
      await withStore(factory(), database, 'readwrite', (store) => store.delete(name))
    },
  }
}
