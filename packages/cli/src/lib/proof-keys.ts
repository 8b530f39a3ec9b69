/**
 * The key a proof command signs with: a key file, or a key on a PKCS#11 token when the
 * argument is a `pkcs11:` URI.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
import { loadKeyPair } from './key-files.js'
import { isPkcs11Uri, openPkcs11Key, type Pkcs11KeyOptions, type ProofKey } from './pkcs11-keys.js'

/**
 * Loads the proof key `reference` names: a `pkcs11:` URI opens the token key (which must exist),
 * anything else is read as a private key file. Close it with `closeProofKey` when done.
 * @example
 * ```ts
 * const key = await loadProofKey('proof', options.key, { alg: options.alg, pinEnv: options.pinEnv })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function loadProofKey(
  command: string,
  reference: string,
  options: Pkcs11KeyOptions,
): Promise<ProofKey> {
  if (isPkcs11Uri(reference)) return openPkcs11Key(command, reference, options)
  return loadKeyPair(reference, options.alg)
}
