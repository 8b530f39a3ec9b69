// Bun and Deno: which @keybound/core backend the export conditions pick, a proof round trip,
// and the Hono adapter on the runtime's own HTTP server (Bun.serve, Deno.serve) on loopback.
// Usage: bun smoke/runtime.mjs | deno run -A smoke/runtime.mjs
import * as core from '@keybound/core'
import * as webcryptoEntry from '@keybound/core/webcrypto'
import * as server from '@keybound/server'
import { dpop } from '@keybound/server/hono'
import { Hono } from 'hono'
import {
  check,
  createSmokeResourceServer,
  expect,
  expectAccepted,
  expectChallenged,
  finish,
} from './lib.mjs'

const runtime = globalThis.Bun
  ? `Bun ${globalThis.Bun.version}`
  : globalThis.Deno
    ? `Deno ${globalThis.Deno.version.deno}`
    : `Node ${process.versions.node}`

/** Serves a fetch handler on an ephemeral loopback port with the runtime's own server. */
function serve(fetchHandler) {
  if (globalThis.Bun) {
    const server = globalThis.Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: fetchHandler })
    return { origin: `http://127.0.0.1:${server.port}`, close: async () => server.stop(true) }
  }
  if (globalThis.Deno) {
    const server = globalThis.Deno.serve(
      { port: 0, hostname: '127.0.0.1', onListen() {} },
      fetchHandler,
    )
    return { origin: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() }
  }
  throw new Error('runtime.mjs is for Bun and Deno')
}

await check(`${runtime}: @keybound/core resolves to the Web Crypto backend`, async () => {
  expect(core.core === webcryptoEntry.core, 'the export conditions picked another backend')
})

await check(`${runtime}: a proof round trip, then its replay refused`, async () => {
  const key = await core.generateKeyPair('ES256')
  const request = { method: 'GET', url: 'https://api.example.com/notes' }
  const proof = await core.createProof(key, { htm: 'GET', htu: request.url })
  const replayStore = new core.MemoryReplayStore()
  const { jkt } = await core.verifyProof(proof, request, { replayStore })
  expect(jkt === (await core.calculateJwkThumbprint(key.publicJwk)), 'jkt is the thumbprint')
  const replay = await core.verifyProof(proof, request, { replayStore }).catch((error) => error)
  expect(replay?.code === 'ERR_DPOP_REPLAYED', `replay: ${replay?.code}`)
})

const { tokens, resourceServer } = await createSmokeResourceServer(server)
const app = new Hono()
app.get('/notes', dpop(resourceServer, { scopes: ['notes:read'] }), (c) =>
  c.json({ subject: c.get('dpop').subject }),
)
const { origin, close } = serve((request) => app.fetch(request))
try {
  await check(`${runtime}: Hono answers 200 to a valid DPoP request`, () =>
    expectAccepted(core, tokens, origin),
  )
  await check(`${runtime}: Hono answers 401 with the DPoP challenge`, () =>
    expectChallenged(origin),
  )
} finally {
  await close()
}

finish()
