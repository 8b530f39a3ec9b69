/**
 * One loaded PKCS#11 module per library path for the whole process: `C_Initialize` is global to
 * a module, so every signer on the same library shares it. The module keeps a generation number
 * that grows on every re-initialization; a signer whose sessions belong to an older generation
 * knows they are gone and reconnects.
 * @packageDocumentation
 */
import { createRequire } from 'node:module'
import type * as Binding from 'pkcs11js'
import { Pkcs11ModuleUnavailable } from './errors.js'
import { ckrName, isPkcs11Error } from './ckr.js'

/** The `pkcs11js` namespace (constants, the PKCS11 class, its error classes). */
export type Pkcs11Binding = typeof Binding

/** A loaded and initialized module shared by the signers of one process. */
export interface LoadedModule {
  readonly binding: Pkcs11Binding
  readonly library: Binding.PKCS11
  readonly path: string
  /** Grows by one on each re-initialization; sessions of an older generation are invalid. */
  generation: number
  /** Runs `call` counted as in flight, so a re-initialization waits for it to settle. */
  track<T>(call: () => Promise<T>): Promise<T>
  /** Re-initializes the module (once per generation) so removed and reinserted tokens are seen. */
  reinitialize(seenGeneration: number): Promise<void>
}

const modules = new Map<string, Promise<LoadedModule>>()
let cachedBinding: Pkcs11Binding | undefined

/**
 * Loads the module at `path` once per process and initializes it for use from several threads
 * (`CKF_OS_LOCKING_OK`: the binding's async calls run on libuv's thread pool).
 */
export function loadModule(path: string): Promise<LoadedModule> {
  let loaded = modules.get(path)
  if (loaded === undefined) {
    loaded = Promise.resolve().then(() => openModule(path))
    modules.set(path, loaded)
    // A module that failed to load may be installed later: do not cache the failure.
    loaded.catch(() => modules.delete(path))
  }
  return loaded
}

function requireBinding(): Pkcs11Binding {
  if (cachedBinding !== undefined) return cachedBinding
  try {
    // pkcs11js is a CommonJS native addon; createRequire keeps this package ESM.
    cachedBinding = createRequire(import.meta.url)('pkcs11js') as Pkcs11Binding
    return cachedBinding
  } catch (error) {
    throw new Pkcs11ModuleUnavailable(
      'the pkcs11js binding is not installed or its native build failed',
      { reason: 'binding', cause: error },
    )
  }
}

function openModule(path: string): LoadedModule {
  const binding = requireBinding()
  const library = new binding.PKCS11()
  try {
    library.load(path)
  } catch (error) {
    throw new Pkcs11ModuleUnavailable(`the PKCS#11 module ${path} could not be loaded`, {
      reason: 'load',
      details: { modulePath: path },
      cause: error,
    })
  }
  initialize(binding, library, path)
  return createLoadedModule(binding, library, path)
}

function initialize(binding: Pkcs11Binding, library: Binding.PKCS11, path: string): void {
  try {
    library.C_Initialize({ flags: binding.CKF_OS_LOCKING_OK })
  } catch (error) {
    // Someone else in this process initialized the same library: its state is ours too.
    if (isPkcs11Error(error) && error.code === binding.CKR_CRYPTOKI_ALREADY_INITIALIZED) return
    throw new Pkcs11ModuleUnavailable(`the PKCS#11 module ${path} did not initialize`, {
      reason: 'initialize',
      details: { modulePath: path, ckr: ckrName(binding, error) },
      cause: error,
    })
  }
}

function createLoadedModule(
  binding: Pkcs11Binding,
  library: Binding.PKCS11,
  path: string,
): LoadedModule {
  let inFlight = 0
  let drained: (() => void)[] = []
  let reinitializing: Promise<void> | undefined
  const module: LoadedModule = {
    binding,
    library,
    path,
    generation: 0,
    track(call) {
      // A call must not start while C_Finalize runs: that frees what the call would use.
      if (reinitializing !== undefined) return reinitializing.then(() => module.track(call))
      inFlight++
      const settle = () => {
        inFlight--
        if (inFlight === 0) for (const resolve of drained.splice(0)) resolve()
      }
      // No async wrapper on this path: it runs once per proof, and each await is a tick.
      let pending
      try {
        pending = call()
      } catch (error) {
        settle()
        return Promise.reject(error)
      }
      return pending.finally(settle)
    },
    reinitialize(seenGeneration) {
      if (seenGeneration !== module.generation) return reinitializing ?? Promise.resolve()
      reinitializing ??= (async () => {
        if (inFlight > 0) await new Promise<void>((resolve) => drained.push(resolve))
        try {
          library.C_Finalize()
        } catch {
          // Already finalized or the token is gone: C_Initialize below is what matters.
        }
        module.generation++
        initialize(binding, library, path)
      })().finally(() => {
        reinitializing = undefined
      })
      return reinitializing
    },
  }
  return module
}
