/**
 * Our resource server (@keybound/server through its node:http adapter) on 127.0.0.1:0. It
 * listens first and is configured afterwards, because the authorization server needs its URL
 * as the audience of the tokens it issues. Every verdict's status is kept for assertions about
 * nonce round trips.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createResourceServer,
  type AccessTokenValidator,
  type ResourceServerOptions,
} from '@keybound/server'
import { protect } from '@keybound/server/node'

export interface KeyboundRs {
  /** Base URL, also the `aud` its tokens must carry. */
  url: string
  /** Statuses it answered, in order. */
  statuses: number[]
  configure(options: {
    accessTokens: AccessTokenValidator
    nonces?: boolean
    scopes?: string[]
    extra?: Partial<ResourceServerOptions>
  }): void
  close(): Promise<void>
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
}

export async function startKeyboundRs(): Promise<KeyboundRs> {
  const statuses: number[] = []
  let handler: ReturnType<typeof protect> | undefined
  const server = createServer((req, res) => {
    if (handler === undefined) {
      res.statusCode = 503
      res.end()
      return
    }
    // Recorded as the response is sent, before the client can see it.
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res
    res.end = ((...args: unknown[]) => {
      statuses.push(res.statusCode)
      return end(...args)
    }) as typeof res.end
    void handler(req, res)
  })
  const url = await listen(server)
  return {
    url,
    statuses,
    configure({ accessTokens, nonces = true, scopes = [], extra = {} }) {
      const resourceServer = createResourceServer({
        publicBaseUrl: url,
        accessTokens,
        ...(nonces ? { nonces: { secret: randomBytes(32) } } : {}),
        ...extra,
      })
      handler = protect(
        resourceServer,
        (_req, res, identity) => {
          res.setHeader('content-type', 'application/json')
          res.end(
            JSON.stringify({
              subject: identity.subject,
              clientId: identity.clientId,
              scope: identity.scope,
              jkt: identity.jkt,
            }),
          )
        },
        { scopes },
      )
    },
    close: () => closeServer(server),
  }
}
