/**
 * `requestLikeOf` reads Node's `headers` when every field line has a name of its own and
 * `headersDistinct` when a name repeats (in any case): which record it took, and that a
 * repeated `Authorization` or `DPoP` line is refused on both paths, over real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { createProof } from '@keybound/core'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { requestLikeOf } from '@keybound/server/node'
import { listen } from '@keybound/test-kit/net'
import { useIssuerAndKey } from './support/suite.js'

const BASE = 'https://rs.example.test'
const suite = useIssuerAndKey(BASE)

type Record = 'headers' | 'headersDistinct'

interface Seen {
  readonly record: Record
  readonly status: number
  readonly code: string
}

let url: URL
let close: () => Promise<void>
const seen: Seen[] = []

beforeAll(async () => {
  const { issuer } = suite
  const resourceServer = createResourceServer({
    publicBaseUrl: BASE,
    accessTokens: jwtAccessTokens({
      issuer: issuer.issuer,
      audience: BASE,
      jwksUri: issuer.jwksUri,
    }),
  })
  const server = createServer((req, res) => {
    const request = requestLikeOf(req, req.url ?? '/')
    const record = recordOf(req, request.headers)
    void resourceServer.verifyRequest(request).then((verdict) => {
      seen.push({
        record,
        status: verdict.ok ? 200 : verdict.status,
        code: verdict.ok ? '' : (verdict.code ?? verdict.error),
      })
      res.end()
    })
  })
  const listening = await listen(server)
  url = new URL(listening.url)
  close = listening.close
})

afterAll(async () => {
  await close?.()
})

function recordOf(req: IncomingMessage, headers: unknown): Record {
  if (headers === req.headers) return 'headers'
  if (headers === req.headersDistinct) return 'headersDistinct'
  throw new Error('requestLikeOf took neither of Node’s header records')
}

// Field lines exactly as given (names in any case, any repeats), which Node's client cannot send.
async function sendRaw(lines: readonly (readonly [string, string])[]): Promise<Seen> {
  const before = seen.length
  const socket = connect(Number(url.port), url.hostname)
  const head = lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')
  // write, not end: a half-closed socket may be dropped before the server answers.
  socket.write(`GET /items HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n${head}\r\n`)
  socket.resume()
  await new Promise((resolve, reject) => socket.on('close', resolve).on('error', reject))
  if (seen.length !== before + 1) throw new Error('the server saw no request')
  return seen[before]!
}

async function signed(): Promise<{ token: string; proof: string }> {
  const token = await suite.issuer.mint({ jkt: suite.key.jkt })
  const proof = await createProof(suite.key, {
    htm: 'GET',
    htu: `${BASE}/items`,
    accessToken: token,
  })
  return { token, proof }
}

describe('requestLikeOf: which of Node’s header records it reads', () => {
  it('takes `headers` when no name repeats, and accepts the request', async () => {
    const { token, proof } = await signed()
    expect(
      await sendRaw([
        ['Authorization', `DPoP ${token}`],
        ['DPoP', proof],
      ]),
    ).toEqual({
      record: 'headers',
      status: 200,
      code: '',
    })
  })

  it('takes `headers` with a Set-Cookie line (an array in `headers`) and accepts', async () => {
    const { token, proof } = await signed()
    const lines = [
      ['authorization', `DPoP ${token}`],
      ['dpop', proof],
      ['Set-Cookie', 'a=1'],
    ] as const
    expect(await sendRaw(lines)).toEqual({ record: 'headers', status: 200, code: '' })
  })

  it('takes `headersDistinct` when an unrelated name repeats, and accepts', async () => {
    const { token, proof } = await signed()
    const lines = [
      ['Authorization', `DPoP ${token}`],
      ['DPoP', proof],
      ['Cookie', 'a=1'],
      ['cookie', 'b=2'],
      ['Set-Cookie', 'c=3'],
      ['set-cookie', 'd=4'],
    ] as const
    expect(await sendRaw(lines)).toEqual({ record: 'headersDistinct', status: 200, code: '' })
  })

  it('takes `headersDistinct` for a second DPoP line in another case, and refuses it', async () => {
    const { token, proof } = await signed()
    const lines = [
      ['Authorization', `DPoP ${token}`],
      ['DPoP', proof],
      ['dpop', proof],
    ] as const
    expect(await sendRaw(lines)).toEqual({
      record: 'headersDistinct',
      status: 401,
      code: 'ERR_DPOP_MULTIPLE_PROOFS',
    })
  })

  it('takes `headersDistinct` for a second Authorization line (which `headers` drops), and refuses it', async () => {
    const { token, proof } = await signed()
    for (const second of ['authorization', 'AUTHORIZATION', 'Authorization']) {
      const lines = [
        ['Authorization', `DPoP ${token}`],
        [second, 'Bearer x'],
        ['DPoP', proof],
      ] as const
      const result = await sendRaw(lines)
      expect([result.record, result.status]).toEqual(['headersDistinct', 400])
    }
  })

  it('counts only own names: an enumerable property on Object.prototype hides no repeated line', async () => {
    const { token, proof } = await signed()
    const lines = [
      ['Authorization', `DPoP ${token}`],
      ['DPoP', proof],
      ['DPoP', proof],
    ] as const
    Object.defineProperty(Object.prototype, 'polluted', {
      value: 'x',
      enumerable: true,
      writable: true,
      configurable: true,
    })
    try {
      expect(await sendRaw(lines)).toEqual({
        record: 'headersDistinct',
        status: 401,
        code: 'ERR_DPOP_MULTIPLE_PROOFS',
      })
    } finally {
      delete (Object.prototype as { polluted?: unknown }).polluted
    }
  })
})
