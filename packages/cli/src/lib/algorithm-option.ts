/**
 * The `-a, --alg` option: core's own list of supported algorithms, shown in help and named in
 * the error when another value is given.
 */
import { Option } from 'commander'
import { SUPPORTED_ALGORITHMS } from '@keybound/core/internal'

/**
 * A `-a, --alg <alg>` option limited to the algorithms core supports (EdDSA and its RFC 9864
 * name Ed25519 included).
 * @example
 * ```ts
 * command.addOption(algorithmOption('algorithm of the new key').default('ES256'))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function algorithmOption(description: string): Option {
  return new Option('-a, --alg <alg>', description).choices([...SUPPORTED_ALGORITHMS])
}
