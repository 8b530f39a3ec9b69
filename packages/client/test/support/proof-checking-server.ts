/**
 * A small real resource server for the DPoP fetch tests: it verifies every proof with
 * `@keybound/core`'s `verifyProof` (all RFC 9449 §4.3 checks) against the URL it was reached at,
 * can demand nonces like an AS (400 JSON) or an RS (401 challenge), and records what it saw.
 */
import { MemoryReplayStore, verifyProof, type VerifiedProof } from '@keybound/core'
import { startServer, type LoopbackServer } from './http.js'

export interface SeenRequest {
  method: string
  path: string
  proof: VerifiedProof | undefined
  error?: string
  body: string
  authorization: string | null
}

export interface ProofCheckingServer extends LoopbackServer {
  seen: SeenRequest[]
  /** Nonce policy: `as` answers 400 JSON, `rs` answers 401 `WWW-Authenticate`. */
  nonceMode: 'off' | 'as' | 'rs' | 'always-challenge' | 'challenge-without-header'
  /** The nonce the server currently expects; change it to rotate. */
  nonce: string
  /** Routes: custom responses by path. */
  routes: Map<string, (request: Request, seen: SeenRequest) => Response | Promise<Response>>
}

export async function startProofCheckingServer(): Promise<ProofCheckingServer> {
  const replayStore = new MemoryReplayStore()
  // The handler reads the settings through `state`, which becomes the returned object.
  let state = {} as ProofCheckingServer
  const server = await startServer(async (request) => {
    const url = new URL(request.url)
    const authorization = request.headers.get('authorization')
    const accessToken = /^dpop (.+)$/i.exec(authorization ?? '')?.[1]
    const record: SeenRequest = {
      method: request.method,
      path: url.pathname,
      proof: undefined,
      body: '',
      authorization,
    }
    record.body = await request.text()
    state.seen.push(record)
    const proof = request.headers.get('dpop')
    const challenge = (): Response => {
      if (state.nonceMode === 'rs' || state.nonceMode === 'always-challenge') {
        return new Response(null, {
          status: 401,
          headers: {
            'www-authenticate':
              'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
            'dpop-nonce': state.nonce,
          },
        })
      }
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      }
      if (state.nonceMode !== 'challenge-without-header') headers['dpop-nonce'] = state.nonce
      return Response.json(
        {
          error: 'use_dpop_nonce',
          error_description: 'Authorization server requires nonce in DPoP proof',
        },
        { status: 400, headers },
      )
    }
    // Metadata documents are public: they are fetched without a proof.
    if (proof === null && url.pathname.includes('/.well-known/')) {
      return (
        state.routes.get(url.pathname)?.(request, record) ??
        new Response('not found', { status: 404 })
      )
    }
    if (proof === null) return Response.json({ error: 'invalid_dpop_proof' }, { status: 400 })
    try {
      record.proof = await verifyProof(
        proof,
        { method: request.method, url: url.href },
        {
          replayStore,
          ...(accessToken === undefined ? {} : { accessToken }),
          ...(state.nonceMode === 'off' ? {} : { nonce: state.nonce }),
        },
      )
    } catch (error) {
      record.error = (error as { code?: string }).code ?? String(error)
      if (record.error === 'ERR_DPOP_NONCE_REQUIRED') return challenge()
      return Response.json({ error: 'invalid_dpop_proof', code: record.error }, { status: 400 })
    }
    if (state.nonceMode === 'always-challenge') return challenge()
    const route = state.routes.get(url.pathname)
    if (route !== undefined) return route(request, record)
    return Response.json({ ok: true, path: url.pathname, body: record.body })
  })
  state = Object.assign(server, {
    seen: [] as SeenRequest[],
    nonceMode: 'off' as ProofCheckingServer['nonceMode'],
    nonce: 'nonce-1.abc_DEF',
    routes: new Map<
      string,
      (request: Request, seen: SeenRequest) => Response | Promise<Response>
    >(),
  })
  return state
}
