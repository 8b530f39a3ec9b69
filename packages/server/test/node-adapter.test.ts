/**
 * The `node:http` adapter's handling of handler failures, over real HTTP: the client gets a bare
 * 500, and the error goes to the `onError` hook, by default one `console.error` line that leaves
 * out the query string, the token and the proof.
 */
import { createServer } from 'node:http'
import { createProof, generateKeyPair, InvalidArgument, type DPoPKeyPair } from '@keybound/core'
import { createResourceServer, jwtAccessTokens, type ResourceServer } from '@keybound/server'
import { protect, type ProtectedHandler, type ProtectOptions } from '@keybound/server/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { send, type Received } from './support/http.js'
import { listen } from '@keybound/test-kit/net'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

const BASE = 'https://rs.example.test'

let issuer: TestIssuer
let key: DPoPKeyPair
let resourceServer: ResourceServer
const closers: (() => Promise<void>)[] = []

beforeAll(async () => {
  ;[issuer, key] = await Promise.all([
    startTestIssuer({ audience: BASE }),
    generateKeyPair('ES256'),
  ])
  resourceServer = createResourceServer({
    publicBaseUrl: BASE,
    accessTokens: jwtAccessTokens({
      issuer: issuer.issuer,
      audience: BASE,
      jwksUri: issuer.jwksUri,
    }),
  })
})
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(closers.splice(0).map((close) => close()))
})
afterAll(() => issuer?.close())

class QuotaExceeded extends Error {
  override name = 'QuotaExceeded'
  code = 'ERR_QUOTA'
  // What an HTTP client error often carries: the outgoing request, credentials included.
  config = { headers: { authorization: 'Bearer upstream-secret' } }
}

/** Serves `handler` behind `protect` and sends it one valid DPoP request with a query string. */
async function callFailing(
  handler: ProtectedHandler,
  options: ProtectOptions = {},
): Promise<{ response: Received; token: string; proof: string }> {
  const { url, close } = await listen(createServer(protect(resourceServer, handler, options)))
  closers.push(close)
  const token = await issuer.mint({ jkt: key.jkt })
  const proof = await createProof(key, { htm: 'GET', htu: `${BASE}/items`, accessToken: token })
  const response = await send(`${url}/items?q=private-search`, {
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  })
  return { response, token, proof }
}

describe('node adapter: handler errors', () => {
  it('answers 500 and reports name, code, method and path on console.error by default', async () => {
    const logged: unknown[][] = []
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args)
    })
    const { response, token, proof } = await callFailing(() => {
      throw new QuotaExceeded('monthly quota used up')
    })
    expect(response.status).toBe(500)
    expect(response.body).toBe('')
    expect(logged).toHaveLength(1)
    const line = logged[0]!.map(String).join(' ')
    expect(line).toContain('GET /items')
    expect(line).toContain('QuotaExceeded [ERR_QUOTA]: monthly quota used up')
    for (const secret of ['private-search', token, proof, 'upstream-secret'])
      expect(line).not.toContain(secret)
  })

  it('hands a rejection and the verified request to onError instead', async () => {
    const errorSpy = vi.spyOn(console, 'error').mockImplementation(() => {})
    const seen: { error: unknown; subject: string | undefined }[] = []
    const failure = new Error('rejected later')
    const { response } = await callFailing(
      async () => {
        await Promise.resolve()
        throw failure
      },
      { onError: (error, req) => seen.push({ error, subject: req.dpop.subject }) },
    )
    expect(response.status).toBe(500)
    expect(seen).toEqual([{ error: failure, subject: 'alice' }])
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it('still answers 500 when the hook itself throws, and reports non-Error values', async () => {
    const { response } = await callFailing(
      () => {
        throw new Error('handler')
      },
      {
        onError: () => {
          throw new Error('hook')
        },
      },
    )
    expect(response.status).toBe(500)
    const logged: string[] = []
    vi.spyOn(console, 'error').mockImplementation((line: string) => logged.push(line))
    const second = await callFailing(() => {
      throw 'a bare string with a secret'
    })
    expect(second.response.status).toBe(500)
    expect(logged).toEqual([
      'keybound: the protected handler failed on GET /items: a non-Error value (string)',
    ])
  })

  it('refuses an onError that is not a function', () => {
    expect(() => protect(resourceServer, () => {}, { onError: 'log' as never })).toThrow(
      InvalidArgument,
    )
  })
})
