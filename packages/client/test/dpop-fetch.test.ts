import { calculateAth, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createDPoPFetch,
  createNonceCache,
  createSigner,
  InsecureRequest,
  NetworkError,
  NonceLoop,
  NonceMissing,
  TooManyRedirects,
} from '../src/index.js'
import { startServer } from './support/http.js'
import {
  startProofCheckingServer,
  type ProofCheckingServer,
} from './support/proof-checking-server.js'

const TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'

let server: ProofCheckingServer
let other: ProofCheckingServer
let key: DPoPKeyPair

beforeAll(async () => {
  ;[server, other, key] = await Promise.all([
    startProofCheckingServer(),
    startProofCheckingServer(),
    generateKeyPair('ES256'),
  ])
})
afterAll(async () => {
  await Promise.all([server.close(), other.close()])
})
beforeEach(() => {
  for (const s of [server, other]) {
    s.seen = []
    s.nonceMode = 'off'
    s.routes.clear()
  }
})

describe('createDPoPFetch: one fresh proof per request (C1, A1, A9–A12)', () => {
  it('signs htm and htu (query and fragment stripped) and the real server accepts it', async () => {
    const api = createDPoPFetch({ fetch, key })
    const before = Math.floor(Date.now() / 1000)
    const response = await api(`${server.url}/items?page=2#top`, { method: 'post', body: 'x' })
    const after = Date.now() / 1000
    expect(response.status).toBe(200)
    const { proof } = server.seen[0]!
    expect(proof?.claims.htm).toBe('POST')
    expect(proof?.claims.htu).toBe(`${server.url}/items`)
    expect(proof?.jkt).toBe(key.jkt)
    // A11: iat is the creation time, in whole seconds, taken while the request was being made.
    expect(proof!.claims.iat).toBeGreaterThanOrEqual(before)
    expect(proof!.claims.iat).toBeLessThanOrEqual(after)
    expect(proof?.claims.ath).toBeUndefined()
  })

  it('keeps non-standard methods as given (PATCH is not upper-cased by fetch)', async () => {
    const api = createDPoPFetch({ fetch, key })
    expect((await api(`${server.url}/x`, { method: 'PATCH', body: '{}' })).status).toBe(200)
    expect(server.seen[0]!.proof?.claims.htm).toBe('PATCH')
  })

  it('gives every request, retries included, a distinct jti', async () => {
    const api = createDPoPFetch({ fetch, key })
    await Promise.all(Array.from({ length: 50 }, () => api(`${server.url}/a`)))
    server.nonceMode = 'rs'
    await api(`${server.url}/a`)
    const jtis = server.seen.map((seen) => seen.proof?.claims.jti ?? seen.error)
    expect(server.seen).toHaveLength(52)
    expect(new Set(jtis.filter((jti) => jti?.length === 22)).size).toBe(51)
  })

  it('adds ath for Authorization: DPoP from the headers or from the accessToken option', async () => {
    const fromHeader = createDPoPFetch({ fetch, key })
    await fromHeader(`${server.url}/r`, { headers: { Authorization: `DPoP ${TOKEN}` } })
    const fromOption = createDPoPFetch({ fetch, key, accessToken: async () => TOKEN })
    await fromOption(new Request(`${server.url}/r`))
    expect(server.seen.map((seen) => seen.proof?.claims.ath)).toEqual([
      'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
      'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
    ])
    expect(server.seen[1]!.authorization).toBe(`DPoP ${TOKEN}`)
  })

  it('leaves a Bearer Authorization alone and adds no ath', async () => {
    const api = createDPoPFetch({ fetch, key, accessToken: TOKEN })
    await api(`${server.url}/r`, { headers: { authorization: 'Bearer abc' } })
    expect(server.seen[0]!.authorization).toBe('Bearer abc')
    expect(server.seen[0]!.proof?.claims.ath).toBeUndefined()
  })

  it('works with a ProofSigner (HSM/KMS shape): only the public JWK and sign(bytes)', async () => {
    const signer = createSigner({
      alg: 'ES256',
      publicJwk: key.publicJwk,
      sign: async (bytes) =>
        new Uint8Array(
          await crypto.subtle.sign(
            { name: 'ECDSA', hash: 'SHA-256' },
            key.privateKey,
            bytes as Uint8Array<ArrayBuffer>,
          ),
        ),
    })
    const api = createDPoPFetch({ fetch, key: signer, accessToken: TOKEN })
    expect((await api(`${server.url}/signer`)).status).toBe(200)
    expect(server.seen[0]!.proof?.jkt).toBe(key.jkt)
  })
})

describe('createDPoPFetch: nonces (C6–C8, A13)', () => {
  it('AS style: 400 use_dpop_nonce → exactly one retry with the nonce and a new proof', async () => {
    server.nonceMode = 'as'
    const api = createDPoPFetch({ fetch, key })
    const response = await api(`${server.url}/token`, {
      method: 'POST',
      body: 'grant_type=client_credentials',
    })
    expect(response.status).toBe(200)
    expect(server.seen).toHaveLength(2)
    expect(server.seen[0]!.error).toBe('ERR_DPOP_NONCE_REQUIRED')
    expect(server.seen[1]!.proof?.claims.nonce).toBe(server.nonce)
    expect(server.seen[1]!.body).toBe('grant_type=client_credentials')
  })

  it('RS style: 401 WWW-Authenticate use_dpop_nonce → one retry; the nonce is then reused', async () => {
    server.nonceMode = 'rs'
    const api = createDPoPFetch({ fetch, key, accessToken: TOKEN })
    expect((await api(`${server.url}/r`)).status).toBe(200)
    expect((await api(`${server.url}/r`)).status).toBe(200)
    expect(server.seen.map((seen) => seen.error ?? 'ok')).toEqual([
      'ERR_DPOP_NONCE_REQUIRED',
      'ok',
      'ok',
    ])
    expect(server.seen[2]!.proof?.claims.nonce).toBe(server.nonce)
    expect(server.seen[2]!.proof?.claims.ath).toBe(await calculateAth(TOKEN))
  })

  it('replays a ReadableStream body byte for byte on the retry', async () => {
    server.nonceMode = 'as'
    const api = createDPoPFetch({ fetch, key })
    const chunks = ['{"a":', '1,', '"b":"', 'x'.repeat(100_000), '"}']
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk))
        controller.close()
      },
    })
    const response = await api(`${server.url}/upload`, {
      method: 'PUT',
      body,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(200)
    expect(server.seen).toHaveLength(2)
    expect(server.seen[0]!.body).toBe(chunks.join(''))
    expect(server.seen[1]!.body).toBe(chunks.join(''))
  })

  it('replays the body of a Request input (FormData, URLSearchParams, Blob too)', async () => {
    server.nonceMode = 'as'
    const api = createDPoPFetch({ fetch, key })
    await api(new Request(`${server.url}/req`, { method: 'POST', body: 'from-request' }))
    await api(`${server.url}/form`, { method: 'POST', body: new URLSearchParams({ a: '1' }) })
    await api(`${server.url}/blob`, { method: 'POST', body: new Blob(['blob!']) })
    expect(server.seen.filter((seen) => seen.proof !== undefined).map((seen) => seen.body)).toEqual(
      ['from-request', 'a=1', 'blob!'],
    )
  })

  it('learns a rotated nonce from any response (§8.2) and uses it next', async () => {
    server.nonceMode = 'rs'
    server.routes.set('/rotate', () => new Response('ok', { headers: { 'DPoP-Nonce': 'nonce-2' } }))
    const api = createDPoPFetch({ fetch, key })
    await api(`${server.url}/rotate`)
    server.nonce = 'nonce-2'
    await api(`${server.url}/after`)
    expect(server.seen.at(-1)!.proof?.claims.nonce).toBe('nonce-2')
    expect(server.seen.at(-1)!.error).toBeUndefined()
    server.nonce = 'nonce-1.abc_DEF'
  })

  it('keeps nonces per origin: another server never gets this one’s nonce (C8)', async () => {
    server.nonceMode = 'rs'
    const nonces = createNonceCache()
    const api = createDPoPFetch({ fetch, key, nonces })
    await api(`${server.url}/a`)
    await api(`${other.url}/b`)
    expect(nonces.get(server.url)).toBe(server.nonce)
    expect(other.seen[0]!.proof?.claims.nonce).toBeUndefined()
  })

  it('bounds the nonce cache', () => {
    const nonces = createNonceCache({ maxOrigins: 2 })
    nonces.set('https://a', 'n1')
    nonces.set('https://b', 'n2')
    nonces.set('https://c', 'n3')
    nonces.set('https://d', 'bad nonce with spaces')
    expect(nonces.size).toBe(2)
    expect(nonces.get('https://a')).toBeUndefined()
    expect(nonces.get('https://d')).toBeUndefined()
  })

  it('a second consecutive challenge ends in NonceLoop, after exactly two requests', async () => {
    server.nonceMode = 'always-challenge'
    const api = createDPoPFetch({ fetch, key })
    const error = await api(`${server.url}/loop`).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(NonceLoop)
    expect((error as NonceLoop).code).toBe('ERR_DPOP_CLIENT_NONCE_LOOP')
    expect((error as NonceLoop).response?.status).toBe(401)
    expect(Object.keys(error as object)).not.toContain('response')
    expect(server.seen).toHaveLength(2)
  })

  it('use_dpop_nonce without DPoP-Nonce → NonceMissing, no retry', async () => {
    server.nonceMode = 'challenge-without-header'
    const api = createDPoPFetch({ fetch, key })
    await expect(api(`${server.url}/t`, { method: 'POST' })).rejects.toBeInstanceOf(NonceMissing)
    expect(server.seen).toHaveLength(1)
  })
})

describe('createDPoPFetch: safety (C15) and transport', () => {
  it('refuses http:// to a non-loopback host before anything is sent', async () => {
    let called = false
    const api = createDPoPFetch({
      fetch: async () => ((called = true), new Response()),
      key,
      accessToken: TOKEN,
    })
    const error = await api('http://api.example.com/x').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(InsecureRequest)
    expect(String((error as Error).message)).not.toContain(TOKEN)
    expect(called).toBe(false)
  })

  it('allows it with allowInsecureHttp', async () => {
    let url = ''
    const api = createDPoPFetch({
      fetch: async (input) => ((url = String(input)), new Response()),
      key,
      allowInsecureHttp: true,
    })
    await api('http://api.example.com/x')
    expect(url).toBe('http://api.example.com/x')
  })

  it('wraps transport failures in NetworkError and keeps aborts as aborts', async () => {
    const closed = await startServer(() => new Response())
    await closed.close()
    const api = createDPoPFetch({ fetch, key })
    await expect(api(`${closed.url}/x`)).rejects.toBeInstanceOf(NetworkError)
    const controller = new AbortController()
    controller.abort()
    await expect(api(`${server.url}/x`, { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    })
  })

  it('follows redirects itself: a fresh proof per hop, the token dropped across origins', async () => {
    server.routes.set(
      '/hop',
      () => new Response(null, { status: 307, headers: { location: '/landing?x=1' } }),
    )
    server.routes.set(
      '/away',
      () => new Response(null, { status: 302, headers: { location: `${other.url}/elsewhere` } }),
    )
    const api = createDPoPFetch({ fetch, key, accessToken: TOKEN })
    const response = await api(`${server.url}/hop`, { method: 'POST', body: 'again' })
    expect(await response.json()).toMatchObject({ path: '/landing', body: 'again' })
    expect(server.seen.map((seen) => seen.proof?.claims.htu)).toEqual([
      `${server.url}/hop`,
      `${server.url}/landing`,
    ])
    expect(server.seen[1]!.proof?.claims.ath).toBeDefined()
    await api(`${server.url}/away`, { method: 'POST', body: 'x' })
    expect(other.seen[0]).toMatchObject({ method: 'GET', authorization: null, body: '' })
    expect(other.seen[0]!.proof?.claims.ath).toBeUndefined()
    expect(other.seen[0]!.proof?.claims.htu).toBe(`${other.url}/elsewhere`)
  })

  it('stops after maxRedirects', async () => {
    server.routes.set(
      '/loop',
      () => new Response(null, { status: 302, headers: { location: '/loop' } }),
    )
    const api = createDPoPFetch({ fetch, key, maxRedirects: 2 })
    await expect(api(`${server.url}/loop`)).rejects.toBeInstanceOf(TooManyRedirects)
    expect(server.seen).toHaveLength(3)
  })

  it('never touches globalThis.fetch', async () => {
    const before = globalThis.fetch
    createDPoPFetch({ fetch, key })
    expect(globalThis.fetch).toBe(before)
  })
})
