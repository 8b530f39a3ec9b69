/**
 * The connection to the upstream: one undici pool with keep-alive, streaming bodies both ways
 * (nothing is buffered), and upstream failures sorted into "took too long" (504) and "could not
 * be reached or broke" (502), as a gateway is expected to answer (RFC 9110 §15.6.3, §15.6.5).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Transform, type Readable, type Writable } from 'node:stream'
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici'

/** Why forwarding failed, as the gateway reports it. */
export type UpstreamFailure =
  | { kind: 'timeout'; status: 504 }
  | { kind: 'connect' | 'reset' | 'other'; status: 502 }
  | { kind: 'body_too_large'; status: 413 }
  | { kind: 'aborted'; status: 499 }

/** Thrown by the body counter when a chunked body passes the limit. */
class BodyTooLarge extends Error {
  readonly code = 'ERR_DPOP_GATEWAY_BODY_TOO_LARGE'
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
])
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
])

/**
 * Sorts an error from undici (or from the body counter) into a gateway answer.
 * @example
 * ```ts
 * classifyUpstreamError(new errors.HeadersTimeoutError()) // { kind: 'timeout', status: 504 }
 * ```
 */
export function classifyUpstreamError(error: unknown, aborted: boolean): UpstreamFailure {
  if (aborted) return { kind: 'aborted', status: 499 }
  const seen = new Set<unknown>()
  // undici wraps system errors (`cause`), and Node aggregates per-address attempts.
  for (
    let current = error;
    current instanceof Error && !seen.has(current);
    current = current.cause
  ) {
    seen.add(current)
    if (current instanceof BodyTooLarge) return { kind: 'body_too_large', status: 413 }
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return { kind: 'timeout', status: 504 }
    if (typeof code === 'string' && CONNECT_CODES.has(code)) return { kind: 'connect', status: 502 }
    if (
      current instanceof AggregateError &&
      current.errors.some((e) => CONNECT_CODES.has((e as { code?: string }).code ?? ''))
    )
      return { kind: 'connect', status: 502 }
    if (current instanceof undiciErrors.SocketError || code === 'ECONNRESET' || code === 'EPIPE')
      return { kind: 'reset', status: 502 }
  }
  return { kind: 'other', status: 502 }
}

/**
 * Counts a body of unknown length (chunked) and fails it past `limit`. A body with a
 * `Content-Length` is checked before forwarding instead, and Node's parser holds it to that
 * length, so it needs no counter.
 */
function limitBody(body: Readable, limit: number): Readable {
  let seen = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > limit) callback(new BodyTooLarge('request body exceeds limits.bodyBytes'))
      else callback(null, chunk)
    },
  })
  body.on('error', (error) => counter.destroy(error))
  return body.pipe(counter)
}

/** One request to forward. */
export interface UpstreamRequest {
  readonly method: string
  /** Origin-form target as received (`/path?query`). */
  readonly target: string
  readonly headers: Record<string, string | string[]>
  /** The client's request, streamed as the body when it has one. */
  readonly body: IncomingMessage | undefined
  /** Set for bodies without `Content-Length`. */
  readonly bodyLimit: number | undefined
}

/** The upstream's status and headers, handed to the caller once they arrive. */
export type ResponseStart = (statusCode: number, headers: IncomingHttpHeaders) => Writable

/** A request on its way: settles when the response has been written out, or fails. */
export interface ForwardedCall {
  /** Resolves once the whole response is handed to the client's response; rejects on failure. */
  readonly done: Promise<void>
  /** Gives up (the client went away): the upstream request is cut and `done` rejects. */
  abort(): void
  /** Whether `abort` was called. */
  readonly aborted: boolean
}

/** Why a call was given up, as the error `done` rejects with. */
class ForwardAborted extends Error {
  readonly code = 'ERR_DPOP_GATEWAY_FORWARD_ABORTED'
}

/**
 * One forwarded request as an undici dispatch handler: the response body goes straight from
 * undici's parser into the client's response, pausing the upstream socket while the client's
 * is full. No stream, no AbortSignal and no async-hooks resource per request, as undici's
 * `stream()` would make.
 */
class ForwardHandler implements Dispatcher.DispatchHandler, ForwardedCall {
  readonly done: Promise<void>
  aborted = false
  private controller: Dispatcher.DispatchController | undefined
  private target: Writable | undefined
  private stopReason: Error | undefined
  private resolve!: () => void
  private reject!: (error: Error) => void

  constructor(private readonly onResponse: ResponseStart) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.stop(new ForwardAborted('the client went away'))
  }

  /** Fails the call with `error` (the request body broke or passed its limit). */
  fail(error: Error): void {
    this.reject(error)
    this.stop(error)
  }

  // Before the request has a socket there is no controller yet; `onRequestStart` stops it then.
  private stop(reason: Error): void {
    this.stopReason ??= reason
    this.controller?.abort(reason)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.stopReason !== undefined) controller.abort(this.stopReason)
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // Informational answers (1xx) are the upstream's business with the gateway, not the client's.
    if (statusCode < 200) return
    this.target = this.onResponse(statusCode, headers)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const target = this.target!
    if (target.write(chunk)) return
    controller.pause()
    target.once('drain', () => controller.resume())
  }

  onResponseEnd(): void {
    this.target?.end()
    this.resolve()
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.reject(error)
  }
}

/** The upstream as the gateway uses it. */
export interface Upstream {
  /**
   * Sends the request; when the response headers arrive, `onResponse` returns where the body
   * goes (the client's response), and the body is written there with backpressure: no buffer
   * and no intermediate stream. `done` rejects on failure, before or after the headers.
   */
  forward(request: UpstreamRequest, onResponse: ResponseStart): ForwardedCall
  close(): Promise<void>
}

/**
 * Opens a keep-alive pool to the upstream origin; `timeoutMs` bounds both the wait for the
 * response headers and each pause in the response body.
 *
 * @example
 * ```ts
 * const upstream = createUpstream(new URL('http://127.0.0.1:3000'), { timeoutMs: 30_000, connections: 128 })
 * ```
 */
export function createUpstream(
  url: URL,
  options: { timeoutMs: number; connections: number },
): Upstream {
  const pool = new Pool(url.origin, {
    connections: options.connections,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: Math.min(options.timeoutMs, 10_000) },
    keepAliveTimeout: 4_000,
  })
  const base = url.pathname.replace(/\/+$/, '')
  return {
    forward(request, onResponse) {
      const body =
        request.body === undefined
          ? null
          : request.bodyLimit === undefined
            ? request.body
            : limitBody(request.body, request.bodyLimit)
      const handler = new ForwardHandler(onResponse)
      // A failing request body (the client cut it, or it passed the limit) fails the call, also
      // while the request still waits for a connection and undici is not yet reading the body.
      body?.on('error', (error: Error) => handler.fail(error))
      try {
        pool.dispatch(
          {
            method: request.method as Dispatcher.HttpMethod,
            path: base + request.target,
            headers: request.headers,
            body,
          },
          handler,
        )
      } catch (error) {
        handler.fail(error as Error)
      }
      return handler
    },
    close: () => pool.close(),
  }
}
