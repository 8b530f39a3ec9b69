/**
 * Two instances behind one issuer URL, sharing the database and the Redis replay store
 * (`REDIS_URL`, default redis://127.0.0.1:6379): a proof accepted by one is refused by the other
 * (RFC 9449 §11.1, F2 in docs/requirements.md).
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAuthorizationServer, type AuthorizationServer } from '../src/index.js'
import { baseConfig, basic, Dpop, freshStorage, postForm } from './support.js'

describe('Redis replay store shared by two instances', () => {
  const servers: AuthorizationServer[] = []
  const ports: number[] = []
  let cleanup: () => Promise<void> = async () => {}
  const issuer = 'http://127.0.0.1:1'

  beforeAll(async () => {
    const fresh = await freshStorage('sqlite')
    cleanup = fresh.cleanup
    const env = {
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      KEYBOUND_DATA_DIR: fresh.storage.dataDir!,
    }
    const config = {
      ...(await baseConfig()),
      issuer,
      replay: { keyPrefix: `kb-test:${randomBytes(6).toString('hex')}:` },
    }
    for (let i = 0; i < 2; i++) {
      const server = await createAuthorizationServer(config, { logger: false, env })
      servers.push(server)
      await server.listen()
      ports.push((server.app.server.address() as { port: number }).port)
    }
  })
  afterAll(async () => {
    for (const server of servers) await server.close()
    await cleanup()
  })

  it('a proof used at one instance is refused at the other', async () => {
    const dpop = await Dpop.create()
    const htu = `${issuer}/token`
    const at = (i: number) => `http://127.0.0.1:${ports[i]}/token`
    // The nonce secret lives in the shared database, so either instance's nonce works at both.
    const first = await postForm(
      at(0),
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: await dpop.proof(htu, { nonce: null }) },
    )
    dpop.nonce = first.headers.get('dpop-nonce')!
    const proof = await dpop.proof(htu)
    const accepted = await postForm(
      at(0),
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: proof },
    )
    expect(accepted.status, accepted.text).toBe(200)
    const replayed = await postForm(
      at(1),
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: proof },
    )
    expect([replayed.status, replayed.body.error]).toEqual([400, 'invalid_dpop_proof'])
    const fresh = await postForm(
      at(1),
      { grant_type: 'client_credentials' },
      { ...basic('service'), dpop: await dpop.proof(htu) },
    )
    expect(fresh.status, fresh.text).toBe(200)
  })
})
