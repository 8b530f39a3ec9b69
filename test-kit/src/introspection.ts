/**
 * A local RFC 7662 introspection endpoint over real HTTP: it checks client authentication
 * (Basic or form), answers for registered tokens (`{"active":false}` otherwise) and records
 * every call, including whether a `DPoP` header was sent (RFC 9449 §6.2: it must not be).
 */
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import { listen } from './net.js'

export interface IntrospectionCall {
  authenticated: boolean
  dpopHeaderSent: boolean
  token: string | undefined
}

export interface TestIntrospection {
  readonly endpoint: string
  readonly clientId: string
  readonly clientSecret: string
  readonly calls: IntrospectionCall[]
  /** Registers a token and the response the endpoint gives for it. */
  register(token: string, response: Record<string, unknown>): void
  /** A fresh opaque token (RFC 9449 Fig. 6 style characters) registered as active. */
  issue(response: Record<string, unknown>): string
  /** Makes every call answer with this status (e.g. 500), or restores normal service. */
  failWith(status: number | undefined): void
  close(): Promise<void>
}

export async function startTestIntrospection(
  clientId = 'rs-client',
  clientSecret = 'rs secret:1',
): Promise<TestIntrospection> {
  const tokens = new Map<string, Record<string, unknown>>()
  const calls: IntrospectionCall[] = []
  let failure: number | undefined
  // RFC 6749 §2.3.1: both parts form-encoded, then joined and base64-encoded.
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+')
  const basic = `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      const authenticated =
        req.headers.authorization === basic ||
        (form.get('client_id') === clientId && form.get('client_secret') === clientSecret)
      const token = form.get('token') ?? undefined
      calls.push({ authenticated, dpopHeaderSent: req.headers.dpop !== undefined, token })
      res.setHeader('Content-Type', 'application/json')
      if (failure !== undefined) {
        res.statusCode = failure
        res.end('{}')
      } else if (req.method !== 'POST' || !authenticated) {
        res.statusCode = 401
        res.end(JSON.stringify({ error: 'invalid_client' }))
      } else {
        res.end(JSON.stringify((token !== undefined && tokens.get(token)) || { active: false }))
      }
    })
  })
  const { url, close } = await listen(server)
  return {
    endpoint: `${url}/introspect`,
    clientId,
    clientSecret,
    calls,
    register: (token, response) => void tokens.set(token, response),
    issue(response) {
      const token = `${randomBytes(18).toString('base64url')}~${randomBytes(6).toString('base64url')}.x`
      tokens.set(token, { active: true, ...response })
      return token
    },
    failWith: (status) => void (failure = status),
    close,
  }
}
