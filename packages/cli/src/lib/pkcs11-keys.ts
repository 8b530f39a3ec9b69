/**
 * Keys on a PKCS#11 token (an HSM, a TPM, a smart card, SoftHSM2), named by an RFC 7512
 * `pkcs11:` URI wherever a command takes a key file. `@keybound/pkcs11` needs a native addon, so
 * it is an optional peer of the CLI, imported only when a `pkcs11:` URI is given: key files keep
 * working where it is not installed. The PIN comes from an environment variable only, never from
 * the command line, where shell history and process lists would keep it.
 * @see https://www.rfc-editor.org/rfc/rfc7512
 */
import { Option } from 'commander'
import { type DPoPAlgorithm, type DPoPKeyPair } from '@keybound/core'
import { invalidArgument } from '@keybound/core/internal'
import type { Pkcs11Algorithm, Pkcs11Signer } from '@keybound/pkcs11'
import { importCommandPackage } from './optional-package.js'

/** A proof key the commands sign with: a key pair from a file, or a key held by a token. */
export type ProofKey = DPoPKeyPair | Pkcs11Signer

/** How a command reaches a token key: the algorithm and where the PIN is. */
export interface Pkcs11KeyOptions {
  /** Proof algorithm; a token key is ES256, PS256, RS256 or EdDSA (default ES256). */
  alg?: DPoPAlgorithm
  /** Name of the environment variable that holds the PIN (`--pin-env`). */
  pinEnv?: string
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Whether a key argument is a `pkcs11:` URI rather than a file path.
 * @example
 * ```ts
 * isPkcs11Uri('pkcs11:token=dpop;object=agent') // true
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7512#section-2.3
 */
export function isPkcs11Uri(reference: string | undefined): reference is string {
  return reference !== undefined && /^pkcs11:/i.test(reference)
}

/**
 * The `--pin-env <name>` option: the NAME of the variable holding the token PIN, the alternative
 * to `pin-source=env:NAME` in the URI. There is deliberately no option that takes the PIN itself.
 * @example
 * ```ts
 * command.addOption(pinEnvOption())
 * ```
 */
export function pinEnvOption(): Option {
  return new Option(
    '--pin-env <name>',
    'with a pkcs11: key: environment variable holding the token PIN (or pin-source=env:NAME in the URI)',
  )
}

/**
 * Opens the key a `pkcs11:` URI names (creating it, non-extractable and sensitive, when `create`
 * is set and no key matches). Loads `@keybound/pkcs11` now, and names the package to install
 * when it is missing.
 * @example
 * ```ts
 * const signer = await openPkcs11Key('proof', 'pkcs11:token=dpop;object=agent?module-path=/usr/lib/softhsm/libsofthsm2.so', { pinEnv: 'DPOP_PIN' })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function openPkcs11Key(
  command: string,
  uri: string,
  options: Pkcs11KeyOptions,
  create = false,
): Promise<Pkcs11Signer> {
  if (options.pinEnv !== undefined && !ENV_NAME.test(options.pinEnv)) {
    // The value is not echoed: whoever typed a PIN here must not see it in a log too.
    throw invalidArgument(
      '--pin-env',
      'the NAME of an environment variable that holds the PIN, never the PIN',
    )
  }
  const { openPkcs11Signer } = await importCommandPackage(
    command,
    '@keybound/pkcs11',
    () => import('@keybound/pkcs11'),
  )
  return openPkcs11Signer({
    uri,
    create,
    ...(options.alg === undefined ? {} : { alg: toPkcs11Algorithm(options.alg) }),
    ...(options.pinEnv === undefined ? {} : { pin: { env: options.pinEnv } }),
  })
}

/**
 * Closes a token key's sessions; a key pair from a file has nothing to close.
 * @example
 * ```ts
 * try { await createProof(key, request) } finally { await closeProofKey(key) }
 * ```
 */
export async function closeProofKey(key: ProofKey): Promise<void> {
  if ('close' in key) await key.close()
}

// Ed25519 is the RFC 9864 name of EdDSA over Ed25519; the signer knows the JOSE one. Any other
// algorithm goes through unchanged, for the signer to refuse with its list.
function toPkcs11Algorithm(alg: DPoPAlgorithm): Pkcs11Algorithm {
  return (alg === 'Ed25519' ? 'EdDSA' : alg) as Pkcs11Algorithm
}
