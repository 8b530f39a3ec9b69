/**
 * Envoy's gRPC external authorization (`envoy.service.auth.v3.Authorization/Check`) in front of
 * the verify service: the client's request comes from `CheckRequest.attributes.request.http`
 * (method, path, headers); an allow answers `OkHttpResponse` (identity headers to set, spent
 * credentials and unset identity headers to remove, `DPoP-Nonce` for the client), a denial
 * `DeniedHttpResponse` (the exact status, `WWW-Authenticate`, `DPoP-Nonce`, body).
 *
 * `@grpc/grpc-js` and `@grpc/proto-loader` are optional peer dependencies, loaded only when
 * `verify.grpc` is set: most deployments speak HTTP to their proxy and need neither.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
import { fileURLToPath } from 'node:url'
import type { RequestLike } from '@keybound/server'
import type { CheckAnswer, CheckRequest } from './check.js'
import { refusal } from './check.js'

/** gRPC status codes Envoy reads (google.rpc.Code). */
const OK = 0
const PERMISSION_DENIED = 7
const UNAUTHENTICATED = 16

/** The proto subset in the package (proto/, next to dist/ and src/). */
const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url))
const PROTO_FILE = 'envoy/service/auth/v3/external_auth.proto'

/** What the gRPC front end needs from the verify service. */
export interface CheckBackend {
  check(request: CheckRequest): Promise<CheckAnswer>
  isTrusted(address: string | undefined): boolean
  recordCheck(answer: CheckAnswer, started: number, request: Partial<CheckRequest>): void
  readonly identityHeaderNames: readonly string[]
  readonly headerBytes: number
}

/** A running gRPC Check service. */
export interface GrpcListener {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

interface HeaderValue {
  key?: string
  value?: string
  raw_value?: Buffer
}

interface HttpAttributes {
  method?: string
  path?: string
  headers?: Record<string, string>
  header_map?: { headers?: HeaderValue[] } | null
}

/** A request the front end could not decode: answered as a bad check, not a gRPC error. */
const MALFORMED = Symbol('malformed')

/**
 * The peer address of a call, from grpc-js's `getPeer()`: `127.0.0.1:5000` or `[::1]:5000`
 * (with an `ipv4:`/`ipv6:` scheme in some versions). `undefined` for anything else (a Unix
 * socket), which is then not trusted.
 */
export function peerAddress(peer: string): string | undefined {
  const bare = peer.replace(/^ipv[46]:/, '')
  const found = /^([\d.]+):\d+$/.exec(bare) ?? /^\[([0-9A-Fa-f:.]+)\]:\d+$/.exec(bare)
  return found?.[1]
}

/** The client's headers, lower-case names, repeated lines kept apart where Envoy kept them. */
function headersOf(http: HttpAttributes): { headers: Record<string, string[]>; bytes: number } {
  const headers: Record<string, string[]> = {}
  let bytes = 0
  const add = (name: string, value: string) => {
    const key = name.toLowerCase()
    bytes += key.length + value.length + 4
    ;(headers[key] ??= []).push(value)
  }
  const raw = http.header_map?.headers ?? []
  if (raw.length > 0) {
    for (const line of raw)
      add(
        line.key ?? '',
        line.raw_value?.length ? line.raw_value.toString('utf8') : (line.value ?? ''),
      )
  } else {
    for (const [name, value] of Object.entries(http.headers ?? {})) add(name, value)
  }
  return { headers, bytes }
}

function options(headers: Record<string, string>) {
  return Object.entries(headers).map(([key, value]) => ({ header: { key, value } }))
}

/** The CheckResponse for an answer. */
export function checkResponseOf(answer: CheckAnswer, identityHeaderNames: readonly string[]) {
  if (answer.status === 200) {
    const removed = [...identityHeaderNames, 'authorization', 'dpop'].filter(
      (name) => answer.upstreamHeaders[name] === undefined,
    )
    return {
      status: { code: OK, message: '' },
      ok_response: {
        headers: options(answer.upstreamHeaders),
        headers_to_remove: removed,
        response_headers_to_add: options(answer.clientHeaders),
      },
    }
  }
  return {
    status: {
      code: answer.status === 401 ? UNAUTHENTICATED : PERMISSION_DENIED,
      message: answer.reason,
    },
    denied_response: {
      status: { code: answer.status },
      headers: options({ ...answer.clientHeaders, 'x-keybound-status': String(answer.status) }),
      body: answer.body,
    },
  }
}

/**
 * Starts the gRPC Check service on `where`.
 * @example
 * ```ts
 * const grpc = await listenGrpc(backend, { host: '127.0.0.1', port: 9001 })
 * ```
 */
export async function listenGrpc(
  backend: CheckBackend,
  where: { host: string; port: number },
): Promise<GrpcListener> {
  const [grpc, loader] = await Promise.all([
    import('@grpc/grpc-js'),
    import('@grpc/proto-loader'),
  ]).catch(() => {
    throw new Error(
      'verify.grpc needs the optional peers @grpc/grpc-js and @grpc/proto-loader: npm install @grpc/grpc-js @grpc/proto-loader',
    )
  })
  const definition = await loader.load(PROTO_FILE, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: false,
    oneofs: true,
  })
  const service = definition['envoy.service.auth.v3.Authorization'] as unknown as {
    Check: { requestDeserialize(bytes: Buffer): unknown } & Record<string, unknown>
  }
  const check = service.Check
  const decode = check.requestDeserialize
  // A message that does not decode gets a denial like any bad check, not a bare gRPC error.
  const tolerant = {
    ...check,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return decode(bytes)
      } catch {
        return MALFORMED
      }
    },
  }
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1 << 20 })
  server.addService({ Check: tolerant } as never, {
    Check: (
      call: { request: unknown; getPeer(): string },
      callback: (error: null, response: unknown) => void,
    ) => {
      answer(backend, call.request, call.getPeer()).then(
        (response) => callback(null, checkResponseOf(response, backend.identityHeaderNames)),
        () =>
          callback(
            null,
            checkResponseOf(refusal(500, 'internal_error'), backend.identityHeaderNames),
          ),
      )
    },
  })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${where.host.includes(':') ? `[${where.host}]` : where.host}:${where.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error === null ? resolve(bound) : reject(error)),
    ),
  )
  return {
    url: `grpc://${where.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve())
      }),
  }
}

async function answer(backend: CheckBackend, message: unknown, peer: string): Promise<CheckAnswer> {
  const started = performance.now()
  let request: Partial<CheckRequest> = {}
  let result: CheckAnswer
  if (!backend.isTrusted(peerAddress(peer))) {
    result = refusal(403, 'untrusted_proxy')
  } else if (message === MALFORMED) {
    result = refusal(400, 'invalid_check_request')
  } else {
    const http = (message as { attributes?: { request?: { http?: HttpAttributes } } })?.attributes
      ?.request?.http
    const { headers, bytes } = headersOf(http ?? {})
    request = { method: http?.method || undefined, target: http?.path || undefined, headers }
    result =
      bytes > backend.headerBytes
        ? refusal(431, 'header_too_large')
        : await backend.check({
            method: request.method,
            target: request.target,
            headers: headers as RequestLike['headers'],
          })
  }
  backend.recordCheck(result, started, request)
  return result
}
