/**
 * A request body that can be sent more than once: for the one nonce retry (RFC 9449 §8, §9) and
 * for 307/308 redirects. Strings, buffers, `Blob`, `FormData` and `URLSearchParams` are
 * immutable and simply sent again. A `ReadableStream` can only be read once, so it is split with
 * `tee()` before every send: one branch goes out, the other waits for a possible retry and is
 * cancelled when none comes. The body still streams out; only the spare branch buffers.
 */

type Body = NonNullable<RequestInit['body']>

function isStream(body: unknown): body is ReadableStream<Uint8Array> {
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream
}

/** A body source that hands out a fresh, sendable body for every attempt. */
export class ReplayableBody {
  private spare: Body | null

  constructor(body: Body | null | undefined) {
    this.spare = body ?? null
  }

  /** True when the body is a stream (Node's fetch then needs `duplex: 'half'`). */
  get isStream(): boolean {
    return isStream(this.spare)
  }

  /** A body for the next attempt. */
  next(): Body | null {
    if (!isStream(this.spare)) return this.spare
    const [out, spare] = this.spare.tee()
    this.spare = spare
    return out
  }

  /** No more attempts: the spare stream branch is cancelled so its buffer is released. */
  release(): void {
    if (isStream(this.spare)) this.spare.cancel().catch(() => {})
    this.spare = null
  }

  /** Drops the body (a redirect that turns the request into a GET). */
  drop(): void {
    this.release()
  }
}
