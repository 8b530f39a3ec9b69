/**
 * A small pool of PKCS#11 sessions on one token. A session runs one signing operation at a
 * time (PKCS#11 §5.12: C_SignInit then C_Sign), so concurrent proofs each borrow their own
 * session; the pool opens sessions lazily up to its size and queues the rest.
 * @packageDocumentation
 */
import type { Handle } from 'pkcs11js'
import { Pkcs11TokenUnavailable } from './errors.js'
import type { LoadedModule } from './module.js'

/** Sessions of one token, valid for one module generation. */
export interface SessionPool {
  /** The module generation the sessions were opened in. */
  readonly generation: number
  acquire(): Promise<Handle>
  /** An idle session at once, or `undefined` (then use `acquire`). */
  tryAcquire(): Handle | undefined
  /** An idle session that passes `test`, at once, or `undefined`. */
  tryAcquireWhere(test: (session: Handle) => boolean): Handle | undefined
  /** A newly opened session when the pool is below its size, or `undefined`; may throw. */
  tryOpen(): Handle | undefined
  /** Gives a session back; `broken` sessions are closed instead of reused. */
  release(session: Handle, broken?: boolean): void
  /** Closes idle sessions now and in-use ones when they come back; waiters are refused. */
  close(): void
}

/**
 * Opens a pool around an already opened (and logged-in) first session.
 */
export function createSessionPool(
  module: LoadedModule,
  slot: Handle,
  first: Handle,
  size: number,
): SessionPool {
  const { binding, library } = module
  const generation = module.generation
  const idle: Handle[] = [first]
  const waiters: { resolve: (session: Handle) => void; reject: (error: Error) => void }[] = []
  let open = 1
  let closed = false

  function closeSession(session: Handle): void {
    open--
    // After a re-initialization the handle number may belong to someone else's new session.
    if (module.generation !== generation) return
    try {
      library.C_CloseSession(session)
    } catch {
      // The token is gone or the session already closed: nothing left to free.
    }
  }

  function tryOpen(): Handle | undefined {
    if (closed || open >= size) return undefined
    const opened = library.C_OpenSession(slot, binding.CKF_SERIAL_SESSION)
    open++
    return opened
  }

  return {
    generation,
    tryAcquire() {
      return closed ? undefined : idle.pop()
    },
    tryAcquireWhere(test) {
      if (closed) return undefined
      const index = idle.findIndex(test)
      return index === -1 ? undefined : idle.splice(index, 1)[0]
    },
    tryOpen,
    acquire() {
      if (closed) return Promise.reject(unavailable())
      const session = idle.pop()
      if (session !== undefined) return Promise.resolve(session)
      // Sessions of a logged-in token share the login (PKCS#11 §5.6), so no second C_Login.
      const opened = tryOpen()
      if (opened !== undefined) return Promise.resolve(opened)
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }))
    },
    release(session, broken = false) {
      if (closed || broken) return closeSession(session)
      const waiter = waiters.shift()
      if (waiter !== undefined) waiter.resolve(session)
      else idle.push(session)
    },
    close() {
      if (closed) return
      closed = true
      for (const session of idle.splice(0)) closeSession(session)
      for (const waiter of waiters.splice(0)) waiter.reject(unavailable())
    },
  }
}

function unavailable(): Pkcs11TokenUnavailable {
  return new Pkcs11TokenUnavailable('the PKCS#11 token went away; reconnecting', {
    reason: 'removed',
  })
}
