/**
 * `@keybound/pkcs11`: DPoP proof signers whose keys never leave a PKCS#11 token (an HSM, a
 * TPM through tpm2-pkcs11, a smart card, SoftHSM2), addressed by RFC 7512 `pkcs11:` URIs.
 * A signer plugs into everything that takes a proof key (`createProof`, `createDPoPFetch`,
 * the token client).
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 * @packageDocumentation
 */
export { openPkcs11Signer, type Pkcs11Signer, type Pkcs11SignerOptions } from './signer.js'
export type { Pkcs11PinSource } from './signer.js'
export type { Pkcs11Algorithm } from './algorithms.js'
export { parsePkcs11Uri, type Pkcs11Uri } from './uri.js'
export * from './errors.js'
