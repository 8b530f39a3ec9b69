/**
 * `@keybound/client`: DPoP (RFC 9449) for OAuth clients, in browsers and Node.
 *
 * - {@link createDPoPFetch}: a `fetch` that signs every request, handles nonces and the retry.
 * - {@link createTokenClient} and {@link discover}: DPoP-bound tokens, obtained and refreshed.
 * - Key stores: {@link createBrowserKeyStore} (IndexedDB), {@link createMemoryKeyStore}; the
 *   Node file store is in `@keybound/client/node`.
 * - {@link createResourceFetch}: starts from a 401 alone (RFC 9728 `resource_metadata`).
 * - {@link parseWwwAuthenticate}: challenges as servers really send them.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 * @module @keybound/client
 */
export * from './errors.js'
export { InvalidArgument, KeyboundError } from '@keybound/core'
export {
  createDPoPFetch,
  isNonceChallenge,
  type AccessTokenSource,
  type DPoPFetch,
  type DPoPFetchOptions,
  type FetchLike,
} from './dpop-fetch.js'
export {
  createNonceCache,
  isValidNonce,
  type NonceCache,
  type NonceCacheOptions,
} from './nonce-cache.js'
export { parseWwwAuthenticate, findChallenge, type Challenge } from './www-authenticate.js'
export { discover, type AuthorizationServerMetadata, type DiscoverOptions } from './discovery.js'
export {
  none,
  clientSecretBasic,
  clientSecretPost,
  privateKeyJwt,
  type ClientAuth,
  type ClientAuthContext,
} from './client-auth.js'
export {
  createResourceFetch,
  clientCredentialsGrant,
  fetchResourceMetadata,
  type ClientCredentialsGrantOptions,
  type GrantContext,
  type ObtainToken,
  type ResourceFetch,
  type ResourceFetchOptions,
  type ResourceMetadata,
} from './resource-fetch.js'
export {
  createTokenClient,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
  type ExchangedTokenSet,
  type TokenExchangeOptions,
  type AuthorizationRequest,
  type AuthorizationRequestOptions,
  type GrantParameters,
  type TokenClient,
  type TokenClientOptions,
  type TokenSet,
} from './token-client.js'
export {
  createSigner,
  createMemoryKeyStore,
  getJkt,
  type KeyStore,
  type KeyStoreOptions,
  type ProofKey,
} from './keys.js'
export { createBrowserKeyStore, type BrowserKeyStoreOptions } from './browser-key-store.js'
export type { DPoPAlgorithm, DPoPKeyPair, ProofSigner, PublicJwk } from '@keybound/core'
