/**
 * Bad arguments to the client are core's `InvalidArgument`, as in every Keybound package
 * (ADR 0043, D39): code `ERR_DPOP_INVALID_ARGUMENT`, a message `<name> must be <what>` and the
 * argument's name in `details.argument`. One row per check the client makes up front.
 */
import { generateKeyPair, InvalidArgument as CoreInvalidArgument } from '@keybound/core'
import { describe, expect, it } from 'vitest'
import {
  clientCredentialsGrant,
  clientSecretBasic,
  createDPoPFetch,
  createNonceCache,
  createResourceFetch,
  createSigner,
  createTokenClient,
  DPoPClientError,
  InvalidArgument,
  KeyboundError,
  privateKeyJwt,
} from '../src/index.js'

const key = await generateKeyPair('ES256')
const metadata = { issuer: 'https://as.example.test', token_endpoint: 'https://as.example.test/t' }

const ROWS: { argument: string; call: () => unknown }[] = [
  { argument: 'options', call: () => createDPoPFetch(undefined as never) },
  { argument: 'key', call: () => createDPoPFetch({ key: undefined as never }) },
  { argument: 'fetch', call: () => createDPoPFetch({ key, fetch: 'fetch' as never }) },
  { argument: 'maxRedirects', call: () => createDPoPFetch({ key, maxRedirects: -1 }) },
  { argument: 'maxOrigins', call: () => createNonceCache({ maxOrigins: 0 }) },
  {
    argument: 'sign',
    call: () => createSigner({ alg: 'ES256', publicJwk: key.publicJwk, sign: 1 as never }),
  },
  { argument: 'clientSecret', call: () => clientSecretBasic('') },
  { argument: 'key', call: () => privateKeyJwt({ alg: 'HS256' } as never) },
  { argument: 'metadata.issuer', call: () => createTokenClient({ metadata: {}, key } as never) },
  { argument: 'clientId', call: () => createTokenClient({ metadata, clientId: '', key }) },
  {
    argument: 'key',
    call: () =>
      createTokenClient({
        metadata: { ...metadata, dpop_signing_alg_values_supported: ['EdDSA'] },
        clientId: 'app',
        key,
      }),
  },
  { argument: 'clientId', call: () => clientCredentialsGrant({ clientId: '' }) },
  {
    argument: 'issuer',
    call: () => clientCredentialsGrant({ clientId: 'app', clientAuth: clientSecretBasic('s') }),
  },
  { argument: 'options', call: () => createResourceFetch(null as never) },
  { argument: 'obtainToken', call: () => createResourceFetch({ key, obtainToken: 1 as never }) },
]

describe("the client's argument errors are core's InvalidArgument (D39)", () => {
  it("exports core's class itself, not a look-alike", () => {
    expect(InvalidArgument).toBe(CoreInvalidArgument)
  })

  it.each(ROWS.map((row, index) => ({ ...row, index })))(
    'row $index: $argument',
    ({ argument, call }) => {
      let thrown: unknown
      try {
        call()
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(InvalidArgument)
      expect(thrown).toBeInstanceOf(KeyboundError)
      expect(thrown).not.toBeInstanceOf(DPoPClientError)
      const error = thrown as InvalidArgument
      expect(error.code).toBe('ERR_DPOP_INVALID_ARGUMENT')
      expect(error.message.startsWith(`${argument} must be `)).toBe(true)
      expect(error.details).toEqual({ argument })
    },
  )
})
