// @keybound/server/redis from the tarball against the real Redis at REDIS_URL: a proof's
// (jkt, jti) is recorded once and refused the second time.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRedisReplayStore } from '@keybound/server/redis'
import { check, expect, finish } from './lib.mjs'

await check('redis: the replay store records a proof once, then refuses it', async () => {
  expect(process.env.REDIS_URL, 'REDIS_URL is not set')
  const store = createRedisReplayStore({
    url: process.env.REDIS_URL,
    keyPrefix: `kb-install:${randomBytes(4).toString('hex')}:`,
  })
  try {
    // The store connects in the background; give it up to 5 s.
    for (let tries = 0; tries < 50 && store.client.isReady !== true; tries++) await sleep(100)
    const jkt = randomBytes(32).toString('base64url')
    expect((await store.checkAndRecord(jkt, 'jti-1', 60_000)) === true, 'first use accepted')
    expect((await store.checkAndRecord(jkt, 'jti-1', 60_000)) === false, 'second use refused')
  } finally {
    await store.close()
  }
})

finish()
