/**
 * The PKCS#11 proof signer: a {@link ProofSigner} whose private key never leaves the token.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 * @packageDocumentation
 */
import {
  calculateJwkThumbprint,
  KeyboundError,
  type ProofSigner,
  type PublicJwk,
} from '@keybound/core'
import type { Handle } from 'pkcs11js'
import { profileOf, toJoseSignature, type Pkcs11Algorithm } from './algorithms.js'
import { ckrName, isTokenGone } from './ckr.js'
import {
  Pkcs11Failed,
  Pkcs11KeyRejected,
  Pkcs11PinInvalid,
  Pkcs11TokenUnavailable,
  Pkcs11UriInvalid,
} from './errors.js'
import { loadModule, type LoadedModule } from './module.js'
import { createSessionPool, type SessionPool } from './session-pool.js'
import { findOrCreateKey, findSlot, login, requireMechanism } from './token.js'
import { parsePkcs11Uri, type Pkcs11Uri } from './uri.js'

/** Where the token PIN comes from: an environment variable, or a function you supply. */
export type Pkcs11PinSource = { env: string } | (() => string | Promise<string>)

/** Options of {@link openPkcs11Signer}. */
export interface Pkcs11SignerOptions {
  /**
   * RFC 7512 URI of the key: token attributes pick the token, `object` (label) and/or `id` pick
   * the key; `module-path` and `pin-source=env:NAME` may be given here too. `pin-value` is refused.
   */
  uri: string
  /** Proof algorithm (default `ES256`). EdDSA needs a token that offers `CKM_EDDSA`. */
  alg?: Pkcs11Algorithm
  /** PIN source; overrides nothing: giving it here and `pin-source` in the URI is refused. */
  pin?: Pkcs11PinSource
  /** Absolute path of the PKCS#11 module, when the URI has no `module-path`. */
  modulePath?: string
  /** Create the key pair on the token when no key matches (default `false`). */
  create?: boolean
  /** Modulus size of RSA keys the signer creates (default 3072, at least 2048). */
  rsaBits?: number
  /** Most sessions opened for concurrent signing (default 4). */
  poolSize?: number
  /** Accept a found key that is extractable or not sensitive (default `false`). */
  allowExtractableKey?: boolean
  /** Least time between two reconnection attempts after the token went away (default 1000 ms). */
  reconnectIntervalMs?: number
}

/** A proof signer backed by a PKCS#11 token. */
export interface Pkcs11Signer extends ProofSigner {
  readonly alg: Pkcs11Algorithm
  readonly publicJwk: PublicJwk
  /** RFC 7638 thumbprint of `publicJwk` (the `cnf.jkt` / `dpop_jkt` value). */
  readonly jkt: string
  /** Signs the JWS signing input on the token; resolves to the JWS signature. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>
  /** Closes the signer's sessions (the module stays loaded for other signers). */
  close(): Promise<void>
}

interface Settings {
  readonly uri: Pkcs11Uri
  readonly alg: Pkcs11Algorithm
  readonly modulePath: string
  readonly pin: Pkcs11PinSource | undefined
  readonly create: boolean
  readonly rsaBits: number
  readonly poolSize: number
  readonly allowExtractableKey: boolean
  readonly reconnectIntervalMs: number
}

interface Connection {
  readonly pool: SessionPool
  readonly key: Handle
  /** Idle sessions whose C_SignInit is already done: the next proof goes straight to C_Sign. */
  readonly armed: Set<Handle>
  broken: boolean
}

/**
 * Opens a signer for the key the URI names: loads the module, finds the token, logs in, finds
 * the key (or creates it with `create: true`, non-extractable and sensitive) and reads its public
 * JWK. Signing runs on the binding's worker threads; a pool of sessions serves concurrent
 * proofs. When the token is removed, signing fails with {@link Pkcs11TokenUnavailable} and the
 * signer reconnects once the token is back, checking that it is the same key.
 * @example
 * ```ts
 * const signer = await openPkcs11Signer({
 *   uri: 'pkcs11:token=dpop;object=agent?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:DPOP_PIN',
 *   alg: 'ES256',
 *   create: true,
 * })
 * const api = createDPoPFetch({ fetch, key: signer })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function openPkcs11Signer(options: Pkcs11SignerOptions): Promise<Pkcs11Signer> {
  const settings = readSettings(options)
  const module = await loadModule(settings.modulePath)
  const profile = profileOf(module.binding, settings.alg, settings.rsaBits)
  let connection: Connection | undefined
  let connecting: Promise<Connection> | undefined
  let latched: KeyboundError | undefined
  let needsReinitialize = false
  let seenGeneration = module.generation
  let lastAttempt = 0
  let closed = false
  let expectedJkt: string | undefined
  let firstJwk: PublicJwk | undefined

  async function establish(): Promise<Connection> {
    if (needsReinitialize) await module.reinitialize(seenGeneration)
    lastAttempt = Date.now()
    seenGeneration = module.generation
    try {
      const slot = findSlot(module, settings.uri)
      requireMechanism(module, slot, profile)
      const session = module.library.C_OpenSession(
        slot,
        module.binding.CKF_SERIAL_SESSION | module.binding.CKF_RW_SESSION,
      )
      try {
        login(module, session, await readPin(settings))
        const key = await findOrCreateKey(module, session, settings.uri, profile, settings)
        await checkSameKey(key.publicJwk)
        needsReinitialize = false
        return {
          pool: createSessionPool(module, slot, session, settings.poolSize),
          key: key.handle,
          armed: new Set(),
          broken: false,
        }
      } catch (error) {
        closeQuietly(module, session)
        throw error
      }
    } catch (error) {
      throw classify(error, 'connect')
    }
  }

  async function checkSameKey(publicJwk: PublicJwk): Promise<void> {
    const jkt = await calculateJwkThumbprint(publicJwk)
    expectedJkt ??= jkt
    if (jkt !== expectedJkt) {
      throw new Pkcs11KeyRejected('the token now holds a different key under this URI', {
        reason: 'replaced',
      })
    }
    firstJwk ??= publicJwk
  }

  function classify(error: unknown, step: string): KeyboundError {
    if (error instanceof Pkcs11PinInvalid && error.reason !== 'missing') latched = error
    if (error instanceof Pkcs11TokenUnavailable) needsReinitialize = true
    if (error instanceof KeyboundError) return error
    if (isTokenGone(module.binding, error)) {
      needsReinitialize = true
      return new Pkcs11TokenUnavailable('the PKCS#11 token went away; reconnecting', {
        reason: 'removed',
        details: { ckr: ckrName(module.binding, error) },
        cause: error,
      })
    }
    return new Pkcs11Failed(`PKCS#11 ${step} failed`, {
      reason: step,
      details: { ckr: ckrName(module.binding, error) },
      cause: error,
    })
  }

  function connect(): Promise<Connection> {
    if (closed)
      return Promise.reject(new Pkcs11Failed('the signer is closed', { reason: 'closed' }))
    if (latched !== undefined) return Promise.reject(latched)
    if (connection !== undefined && !connection.broken) {
      if (connection.pool.generation === module.generation) return Promise.resolve(connection)
      dropConnection(false) // Another signer re-initialized the module: reconnect quietly.
    }
    if (connecting !== undefined) return connecting
    if (needsReinitialize && Date.now() - lastAttempt < settings.reconnectIntervalMs) {
      return Promise.reject(
        new Pkcs11TokenUnavailable('the PKCS#11 token is not back yet', { reason: 'absent' }),
      )
    }
    connecting = establish()
      .then((established) => {
        // close() may have come while connecting: do not keep sessions nobody will release.
        if (closed) established.pool.close()
        else connection = established
        return established
      })
      .finally(() => (connecting = undefined))
    return connecting
  }

  function dropConnection(tokenGone: boolean): void {
    if (connection === undefined) return
    connection.broken = true
    connection.pool.close()
    connection = undefined
    if (tokenGone) needsReinitialize = true
  }

  function readyConnection(): Connection | undefined {
    const current = connection
    if (current === undefined || current.broken || closed) return undefined
    return current.pool.generation === module.generation ? current : undefined
  }

  /**
   * One signing operation on an idle session. Written with `then` rather than `await`: a proof
   * is latency-bound on the token, and each await layer added a microtask hop per proof.
   */
  function signOnce(data: Buffer): Promise<Buffer | 'stale'> {
    const current = readyConnection()
    const session = current === undefined ? undefined : idleSessionOf(current)
    if (current === undefined || session === undefined) return signWhenReady(data)
    return signOn(current, session, data)
  }

  async function signWhenReady(data: Buffer): Promise<Buffer | 'stale'> {
    const current = readyConnection() ?? (await connect())
    const session = idleSessionOf(current) ?? (await current.pool.acquire())
    return signOn(current, session, data)
  }

  function idleSessionOf(current: Connection): Handle | undefined {
    return (
      current.pool.tryAcquireWhere((session) => current.armed.has(session)) ??
      current.pool.tryAcquire()
    )
  }

  /**
   * PKCS#11 has no asynchronous C_SignInit, and a software token spends longer in it than in
   * C_Sign (SoftHSM2 ES256: about 40 µs against 35 µs), all on the event loop. So while one
   * signature is computed on the thread pool, an idle session (or a new one, up to the pool's
   * size) gets its C_SignInit for the next proof. Best effort: a failure here closes that
   * session, and the next proof meets the failure itself and reports it.
   */
  function armSpareSession(current: Connection): void {
    let spare: Handle | undefined
    try {
      spare =
        current.pool.tryAcquireWhere((session) => !current.armed.has(session)) ??
        current.pool.tryOpen()
      if (spare === undefined) return
      module.library.C_SignInit(spare, profile.mechanism, current.key)
      current.armed.add(spare)
      current.pool.release(spare)
    } catch {
      if (spare !== undefined) current.pool.release(spare, true)
    }
  }

  function signOn(current: Connection, session: Handle, data: Buffer): Promise<Buffer | 'stale'> {
    const wasArmed = current.armed.delete(session)
    const signed = module.track<Buffer | 'stale'>(() => {
      if (current.pool.generation !== module.generation) return Promise.resolve('stale' as const)
      if (!wasArmed) module.library.C_SignInit(session, profile.mechanism, current.key)
      const pending = module.library.C_SignAsync(session, data, Buffer.alloc(profile.outputLength))
      armSpareSession(current)
      return pending
    })
    return signed.then(
      (output) => {
        current.pool.release(session, false)
        return output
      },
      (error: unknown) => {
        current.pool.release(session, true)
        const failure = classify(error, 'sign')
        if (failure instanceof Pkcs11TokenUnavailable && connection === current)
          dropConnection(true)
        throw failure
      },
    )
  }

  function joseSignatureOf(output: Buffer): Uint8Array {
    const signature = toJoseSignature(settings.alg, output)
    if (signature === undefined)
      throw new Pkcs11Failed('the token returned a malformed signature', { reason: 'signature' })
    return signature
  }

  await connect()
  const publicJwk = Object.freeze({ ...firstJwk! })
  const jkt = expectedJkt!

  return Object.freeze({
    alg: settings.alg,
    publicJwk,
    jkt,
    sign(signingInput: Uint8Array): Promise<Uint8Array> {
      let data: Buffer
      try {
        data = profile.prepare(signingInput)
      } catch (error) {
        return Promise.reject(error)
      }
      return signOnce(data).then((output) => {
        if (output !== 'stale') return joseSignatureOf(output)
        // The module re-initialized between acquiring the session and signing: once more.
        return signOnce(data).then((again) => {
          if (again === 'stale')
            throw new Pkcs11TokenUnavailable('the PKCS#11 module is re-initializing', {
              reason: 'removed',
            })
          return joseSignatureOf(again)
        })
      })
    },
    async close(): Promise<void> {
      closed = true
      dropConnection(false)
    },
  })
}

function readSettings(options: Pkcs11SignerOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new Pkcs11UriInvalid('signer options are required', { claim: 'options' })
  const uri = parsePkcs11Uri(options.uri)
  const problems: string[] = []
  const alg = options.alg ?? 'ES256'
  if (!['ES256', 'PS256', 'RS256', 'EdDSA'].includes(alg))
    problems.push('alg: must be ES256, PS256, RS256 or EdDSA')
  if (uri.object === undefined && uri.id === undefined)
    problems.push('uri: needs object= (label) or id= to name the key')
  const modulePath = options.modulePath ?? uri.modulePath
  if (options.modulePath !== undefined && uri.modulePath !== undefined)
    problems.push('modulePath: give the module in the URI or in options, not both')
  else if (modulePath === undefined)
    problems.push('modulePath: no module-path in the URI and no modulePath option')
  else if (!modulePath.startsWith('/')) problems.push('modulePath: must be an absolute path')
  if (options.pin !== undefined && uri.pinEnv !== undefined)
    problems.push('pin: give the PIN source in the URI or in options, not both')
  const pin = options.pin ?? (uri.pinEnv === undefined ? undefined : { env: uri.pinEnv })
  if (pin !== undefined && typeof pin !== 'function' && typeof pin?.env !== 'string')
    problems.push('pin: must be { env: "NAME" } or a function returning the PIN')
  const rsaBits = options.rsaBits ?? 3072
  if (!Number.isInteger(rsaBits) || rsaBits < 2048 || rsaBits > 8192)
    problems.push('rsaBits: must be an integer from 2048 to 8192')
  const poolSize = options.poolSize ?? 4
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 64)
    problems.push('poolSize: must be an integer from 1 to 64')
  const reconnectIntervalMs = options.reconnectIntervalMs ?? 1000
  if (!Number.isFinite(reconnectIntervalMs) || reconnectIntervalMs < 0)
    problems.push('reconnectIntervalMs: must be a number >= 0')
  if (problems.length > 0) {
    throw new Pkcs11UriInvalid(`invalid PKCS#11 signer options: ${problems.join('; ')}`, {
      claim: 'options',
      details: { problems },
    })
  }
  return {
    uri,
    alg,
    modulePath: modulePath!,
    pin,
    create: options.create === true,
    rsaBits,
    poolSize,
    allowExtractableKey: options.allowExtractableKey === true,
    reconnectIntervalMs,
  }
}

async function readPin(settings: Settings): Promise<string> {
  const source = settings.pin
  let pin: unknown
  try {
    pin = typeof source === 'function' ? await source() : source && process.env[source.env]
  } catch (error) {
    throw new Pkcs11PinInvalid('cannot log in to the token: the PIN callback failed', {
      reason: 'missing',
      cause: error,
    })
  }
  if (typeof pin !== 'string' || pin === '') {
    const where = source === undefined ? 'no PIN source was given' : 'the PIN source is empty'
    throw new Pkcs11PinInvalid(`cannot log in to the token: ${where}`, { reason: 'missing' })
  }
  return pin
}

function closeQuietly(module: LoadedModule, session: Handle): void {
  try {
    module.library.C_CloseSession(session)
  } catch {
    // The session died with the token; there is nothing left to close.
  }
}
