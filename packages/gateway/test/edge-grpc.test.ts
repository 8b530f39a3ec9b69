/**
 * Envoy's gRPC external authorization, `envoy.service.auth.v3.Authorization/Check`, over real
 * gRPC on loopback (`@grpc/grpc-js`), with the repository's proto subset. The client sends what
 * Envoy sends (`attributes.request.http`: method, path, host, scheme, lower-case headers) and the
 * tests read what Envoy acts on: `status.code` 0 with `ok_response` (headers to set and to
 * remove upstream), or `denied_response` (status, headers, body), which must equal the
 * in-process gateway's answer. Malformed messages get a denial, not a gRPC error.
 */
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { send } from './support/http.js'
import { dpopHeaders, startHarness, type Harness } from './support/fixture.js'
import {
  DENIAL_CASES,
  denialCases,
  denialPath,
  startVerify,
  type RunningVerify,
} from './support/verify.js'

const METHOD = '/envoy.service.auth.v3.Authorization/Check'

interface HeaderOption {
  header: { key: string; value: string }
}

interface CheckResponse {
  status?: { code?: number; message?: string }
  http_response?: 'ok_response' | 'denied_response'
  ok_response?: {
    headers?: HeaderOption[]
    headers_to_remove?: string[]
    response_headers_to_add?: HeaderOption[]
  }
  denied_response?: { status?: { code?: number }; headers?: HeaderOption[]; body?: string }
}

let harness: Harness
let verify: RunningVerify
let untrusted: RunningVerify
let gatewayUrl: string
let denials: ReturnType<typeof denialCases>
let codec: {
  requestSerialize(value: object): Buffer
  responseDeserialize(bytes: Buffer): CheckResponse
}

beforeAll(async () => {
  harness = await startHarness({ clientId: 'app-1', scope: 'items:read items:write' })
  const grpcOn = { verify: { grpc: { port: 0 } } }
  ;[verify, untrusted] = await Promise.all([
    startVerify(harness.issuer, grpcOn),
    startVerify(harness.issuer, { verify: { grpc: { port: 0 }, trustedProxies: ['192.0.2.10'] } }),
  ])
  gatewayUrl = (await harness.gateway()).url
  denials = denialCases(harness)
  const definition = await loader.load('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [fileURLToPath(new URL('../proto/', import.meta.url))],
    keepCase: true,
    enums: Number,
    oneofs: true,
  })
  codec = (definition['envoy.service.auth.v3.Authorization'] as never as { Check: typeof codec })
    .Check
})

afterAll(async () => {
  await Promise.all([verify?.service.close(), untrusted?.service.close()])
  await harness?.close()
})

/** One Check call with `bytes` as the request message. */
function call(service: RunningVerify, bytes: Buffer): Promise<CheckResponse> {
  const port = Number(/:(\d+)$/.exec(service.grpcUrl!)![1])
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      METHOD,
      (value: Buffer) => value,
      (value: Buffer) => codec.responseDeserialize(value),
      bytes,
      (error, response) => {
        client.close()
        if (error) reject(error)
        else resolve(response!)
      },
    )
  })
}

/** The CheckRequest Envoy sends for a client's `method` `path` with `headers`. */
function envoyCheck(method: string, path: string, headers: Array<[string, string]>): Buffer {
  const merged: Record<string, string> = { ':authority': 'api.example.test', ':method': method }
  // Envoy merges repeated field lines with commas.
  for (const [name, value] of headers) {
    const key = name.toLowerCase()
    merged[key] = merged[key] === undefined ? value : `${merged[key]},${value}`
  }
  return codec.requestSerialize({
    attributes: {
      request: {
        http: {
          id: '1',
          method,
          path,
          host: 'api.example.test',
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers: merged,
        },
      },
    },
  })
}

function headerMap(options: HeaderOption[] | undefined): Record<string, string> {
  return Object.fromEntries((options ?? []).map(({ header }) => [header.key, header.value]))
}

describe('Envoy gRPC ext_authz v3 Check', () => {
  it('allows with the identity to set and the spent credentials to remove', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/42', [
      ['x-keybound-subject', 'mallory'],
    ])
    const response = await call(verify, envoyCheck('GET', '/items/42?page=2', headers))
    expect(response.status?.code ?? 0).toBe(0)
    expect(response.http_response).toBe('ok_response')
    const set = headerMap(response.ok_response?.headers)
    expect(set['x-keybound-subject']).toBe('alice')
    expect(set['x-keybound-client-id']).toBe('app-1')
    expect(set['x-keybound-scope']).toBe('items:read items:write')
    expect(set['x-keybound-jkt']).toBe(harness.key.jkt)
    expect(response.ok_response?.headers_to_remove).toEqual(['authorization', 'dpop'])
  })

  it('allows a public route and removes every identity header a client sent', async () => {
    const response = await call(
      verify,
      envoyCheck('GET', '/public/readme', [['x-keybound-subject', 'mallory']]),
    )
    expect(response.http_response).toBe('ok_response')
    expect(response.ok_response?.headers ?? []).toEqual([])
    expect(response.ok_response?.headers_to_remove).toEqual(
      expect.arrayContaining(['x-keybound-subject', 'x-keybound-scope', 'authorization', 'dpop']),
    )
  })

  it.each(DENIAL_CASES)('denies "%s" exactly as the gateway', async (denial) => {
    const uri = denialPath(denial)
    const reference = await send(`${gatewayUrl}${uri}`, { headers: await denials[denial](uri) })
    const response = await call(verify, envoyCheck('GET', uri, await denials[denial](uri)))
    expect(response.http_response).toBe('denied_response')
    expect(response.status?.code).toBe(reference.status === 401 ? 16 : 7)
    const denied = response.denied_response!
    expect(denied.status?.code).toBe(reference.status)
    const headers = headerMap(denied.headers)
    expect(headers['www-authenticate']).toBe(reference.headers['www-authenticate'])
    expect(headers['dpop-nonce']).toBe(reference.headers['dpop-nonce'])
    expect(denied.body ?? '').toBe(reference.text)
  })

  it('denies a replayed proof', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/5')
    const bytes = envoyCheck('GET', '/items/5', headers)
    expect((await call(verify, bytes)).http_response).toBe('ok_response')
    const replay = await call(verify, bytes)
    expect(replay.denied_response?.status?.code).toBe(401)
    expect(headerMap(replay.denied_response?.headers)['www-authenticate']).toContain(
      'error="invalid_dpop_proof"',
    )
  })

  it('skips fields it does not know, as a newer Envoy sends them', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/6')
    // Field 15 (varint 1) is not in the subset: protobuf must skip it.
    const bytes = Buffer.concat([envoyCheck('GET', '/items/6', headers), Buffer.from([0x78, 0x01])])
    expect((await call(verify, bytes)).http_response).toBe('ok_response')
  })

  it.each([
    ['a message that does not decode', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])],
    ['a message without HTTP attributes', Buffer.alloc(0)],
  ])('denies %s with 400 invalid_check_request, not a gRPC error', async (_name, bytes) => {
    const response = await call(verify, bytes)
    expect(response.status?.code).toBe(7)
    expect(response.denied_response?.status?.code).toBe(400)
    expect(JSON.parse(response.denied_response!.body!)).toEqual({
      error: 'invalid_check_request',
    })
  })

  it('denies an oversized header with 431', async () => {
    const response = await call(
      verify,
      envoyCheck('GET', '/items/1', [['x-big', 'a'.repeat(20 * 1024)]]),
    )
    expect(response.denied_response?.status?.code).toBe(431)
  })

  it('denies a check from a peer that is not a trusted proxy', async () => {
    const headers = await dpopHeaders(harness.key, harness.token, 'GET', '/items/3')
    const response = await call(untrusted, envoyCheck('GET', '/items/3', headers))
    expect(response.denied_response?.status?.code).toBe(403)
    expect(JSON.parse(response.denied_response!.body!)).toEqual({ error: 'untrusted_proxy' })
  })
})
