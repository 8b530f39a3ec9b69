/**
 * Our resource server (@keybound/server through its node:http adapter) on 127.0.0.1:0. It
 * listens first and is configured afterwards, because the authorization server needs its URL
 * as the audience of the tokens it issues. Every verdict's status is kept for assertions about
 * nonce round trips.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import {
  createResourceServer,
  type AccessTokenValidator,
  type ResourceServerOptions,
} from '@keybound/server'
import { protect } from '@keybound/server/node'
import { listen } from '@keybound/test-kit/net'

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
  const { url, close } = await listen(server)
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
    close,
  }
}
