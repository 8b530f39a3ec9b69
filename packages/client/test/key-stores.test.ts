import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportKeyPair } from '@keybound/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDPoPFetch, createMemoryKeyStore, KeyStoreError } from '../src/index.js'
import { createFileKeyStore } from '../src/node.js'
import {
  startProofCheckingServer,
  type ProofCheckingServer,
} from './support/proof-checking-server.js'

let dir: string
let server: ProofCheckingServer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybound-keys-'))
  server = await startProofCheckingServer()
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
  await server.close()
})

describe('createFileKeyStore (@keybound/client/node)', () => {
  it('creates the JWK file on first use with mode 0600, in a 0700 directory', async () => {
    const path = join(dir, 'nested', 'dpop-key.json')
    const key = await createFileKeyStore({ path }).getKey()
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700)
    const jwk = JSON.parse(await readFile(path, 'utf8'))
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' })
    expect(typeof jwk.d).toBe('string')
    expect(key.privateKey.extractable).toBe(false)
    await expect(exportKeyPair(key)).rejects.toThrow(/not extractable/)
  })

  it('a new store (a restarted process) loads the same key, and it signs accepted proofs', async () => {
    const path = join(dir, 'same.json')
    const first = await createFileKeyStore({ path }).getKey()
    const second = await createFileKeyStore({ path }).getKey()
    expect(second.jkt).toBe(first.jkt)
    const api = createDPoPFetch({ fetch, key: second })
    expect((await api(`${server.url}/x`)).status).toBe(200)
    expect(server.seen.at(-1)!.proof?.jkt).toBe(first.jkt)
  })

  it('two stores racing on a missing file agree on one key', async () => {
    const path = join(dir, 'race.json')
    const keys = await Promise.all(
      Array.from({ length: 5 }, () => createFileKeyStore({ path }).getKey()),
    )
    expect(new Set(keys.map((key) => key.jkt)).size).toBe(1)
  })

  it('rotate() replaces the key atomically and keeps mode 0600', async () => {
    const path = join(dir, 'rotate.json')
    const store = createFileKeyStore({ path, alg: 'EdDSA' })
    const before = await store.getKey()
    const after = await store.rotate()
    expect(after.jkt).not.toBe(before.jkt)
    expect(after.alg).toBe('EdDSA')
    expect((await createFileKeyStore({ path }).getKey()).jkt).toBe(after.jkt)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('refuses a key file other users can read, and a file that is not a JWK', async () => {
    const open = join(dir, 'open.json')
    await createFileKeyStore({ path: open }).getKey()
    await chmod(open, 0o644)
    await expect(createFileKeyStore({ path: open }).getKey()).rejects.toMatchObject({
      code: 'ERR_DPOP_CLIENT_KEY_STORE',
      reason: 'mode',
    })
    const junk = join(dir, 'junk.json')
    await writeFile(junk, 'not json', { mode: 0o600 })
    await expect(createFileKeyStore({ path: junk }).getKey()).rejects.toBeInstanceOf(KeyStoreError)
  })

  it('delete() removes the file; the next getKey creates a new key', async () => {
    const path = join(dir, 'delete.json')
    const store = createFileKeyStore({ path })
    const first = await store.getKey()
    await store.delete()
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' })
    expect((await store.getKey()).jkt).not.toBe(first.jkt)
  })
})

describe('createMemoryKeyStore', () => {
  it('hands out one non-extractable key until rotated', async () => {
    const store = createMemoryKeyStore()
    const [a, b] = await Promise.all([store.getKey(), store.getKey()])
    expect(a).toBe(b)
    expect(a.privateKey.extractable).toBe(false)
    const rotated = await store.rotate()
    expect(rotated.jkt).not.toBe(a.jkt)
    expect(await store.getKey()).toBe(rotated)
  })
})
