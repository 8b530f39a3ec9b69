/**
 * The adapters that read request bodies themselves (Hono and node:http), over real HTTP on
 * loopback: a form body is read only when a form token could change the verdict, at most
 * `maxFormBytes` of it (413 beyond), and the handler can still read what was read.
 */
import { request as httpRequest, createServer } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createProof } from '@keybound/core'
import type { ResourceServer } from '@keybound/server'
import { dpop as honoDpop, type DPoPEnv } from '@keybound/server/hono'
import { protect } from '@keybound/server/node'
import { send } from './support/http.js'
import { listen } from '@keybound/test-kit/net'
import { resourceServerFor, useIssuerAndKey } from './support/suite.js'

const BASE = 'https://rs.example.test'
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' }
const MAX = 1024

const suite = useIssuerAndKey(BASE)

type Adapter = 'hono' | 'node'

interface Running {
  url: string
  close(): Promise<void>
}

// POST /form answers the `item` the handler read from the body.
async function start(
  adapter: Adapter,
  resourceServer: ResourceServer,
  maxFormBytes?: number,
): Promise<Running> {
  const limit = maxFormBytes === undefined ? {} : { maxFormBytes }
  if (adapter === 'node') {
    const handler = protect(
      resourceServer,
      (req, res) => res.end(JSON.stringify({ item: req.body?.get('item') ?? null })),
      limit,
    )
    return listen(createServer(handler))
  }
  const app = new Hono<DPoPEnv>()
  app.post('/form', honoDpop(resourceServer, limit), async (c) => {
    const body = await c.req.parseBody()
    return c.json({ item: body.item ?? null })
  })
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started),
    )
  })
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => void server.close(() => resolve())),
  }
}

function resourceServerWith(allowBearer = false): ResourceServer {
  return resourceServerFor(suite, BASE, { allowBearer })
}

async function dpopHeaders(): Promise<Record<string, string>> {
  const token = await suite.issuer.mint({ jkt: suite.key.jkt })
  const proof = await createProof(suite.key, {
    htm: 'POST',
    htu: `${BASE}/form`,
    accessToken: token,
  })
  return { Authorization: `DPoP ${token}`, DPoP: proof }
}

/**
 * Announces a body of `declared` bytes, sends only the first KiB, and waits for the answer: a
 * server that reads the body before answering never answers (the request is then aborted).
 */
function answerBeforeBody(url: string, declared: number): Promise<number> {
  const target = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { ...FORM, 'Content-Length': String(declared) },
        agent: false,
        signal: AbortSignal.timeout(10_000),
      },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
        req.destroy()
      },
    )
    req.on('error', reject)
    req.write(`item=${'x'.repeat(1019)}`)
  })
}

describe.each(['hono', 'node'] as const)('form bodies at the %s adapter', (adapter) => {
  let strict: Running
  let bearer: Running

  beforeAll(async () => {
    ;[strict, bearer] = await Promise.all([
      start(adapter, resourceServerWith(false), MAX),
      start(adapter, resourceServerWith(true), MAX),
    ])
  })

  afterAll(async () => {
    await Promise.all([strict?.close(), bearer?.close()])
  })

  it('answers a request without credentials 401 without reading its 64 MiB body', async () => {
    expect(await answerBeforeBody(`${strict.url}/form`, 64 * 1024 * 1024)).toBe(401)
  })

  it('refuses a form body above maxFormBytes with 413 when a form token could matter', async () => {
    const large = `item=${'x'.repeat(MAX)}`
    const withCredentials = await send(`${strict.url}/form`, {
      method: 'POST',
      headers: { ...FORM, ...(await dpopHeaders()) },
      body: large,
    })
    expect(withCredentials.status).toBe(413)
    // With Bearer allowed, a form token alone may be the credential: the body matters.
    const bearerBody = await send(`${bearer.url}/form`, {
      method: 'POST',
      headers: FORM,
      body: large,
    })
    expect(bearerBody.status).toBe(413)
    // A chunked body (no Content-Length) is cut off at the limit too.
    const chunked = await send(`${strict.url}/form`, {
      method: 'POST',
      headers: { ...FORM, 'Transfer-Encoding': 'chunked', ...(await dpopHeaders()) },
      body: large,
    })
    expect(chunked.status).toBe(413)
  })

  it('still sees a token sent in two ways, and the handler reads the body it was given', async () => {
    const headers = { ...FORM, ...(await dpopHeaders()) }
    const twoWays = await send(`${strict.url}/form`, {
      method: 'POST',
      headers,
      body: 'access_token=another&item=x',
    })
    expect(twoWays.status).toBe(400)
    const accepted = await send(`${strict.url}/form`, {
      method: 'POST',
      headers: { ...FORM, ...(await dpopHeaders()) },
      body: 'item=within-the-limit',
    })
    expect(accepted.status).toBe(200)
    expect(accepted.json()).toEqual({ item: 'within-the-limit' })
  })

  it('caps a form body at 64 KiB when maxFormBytes is left out', async () => {
    const byDefault = await start(adapter, resourceServerWith())
    try {
      const post = async (bytes: number) =>
        (
          await send(`${byDefault.url}/form`, {
            method: 'POST',
            headers: { ...FORM, ...(await dpopHeaders()) },
            body: `item=${'x'.repeat(bytes - 5)}`,
          })
        ).status
      expect(await post(64 * 1024)).toBe(200)
      expect(await post(64 * 1024 + 1)).toBe(413)
    } finally {
      await byDefault.close()
    }
  })

  it('refuses a maxFormBytes that is not a positive integer when the middleware is built', () => {
    for (const maxFormBytes of [0, -1, 1.5, Number.NaN, '64k']) {
      expect(() =>
        adapter === 'hono'
          ? honoDpop(resourceServerWith(), { maxFormBytes } as never)
          : protect(resourceServerWith(), () => undefined, { maxFormBytes } as never),
      ).toThrow(/maxFormBytes/)
    }
  })
})
