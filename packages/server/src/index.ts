/**
 * `@keybound/server`: DPoP (RFC 9449) for resource servers. Verify a request-like object, get a
 * verdict with the exact challenge to send. Framework adapters live in the subpath exports
 * `@keybound/server/express`, `/fastify`, `/hono` and `/node`; a Redis replay store in `/redis`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/server
 */
export { createResourceServer } from './resource-server.js'
export { checkRouteOptions, type CheckedRouteOptions } from './route-options.js'
export {
  resourceServerFromEnv,
  resourceServerOptionsFromEnv,
  type Environment,
  type EnvironmentOptions,
} from './env.js'
export {
  jwtAccessTokens,
  type JwtAccessTokenOptions,
  type MultiIssuerJwtOptions,
} from './access-tokens/jwt.js'
export {
  builtInProfile,
  PROFILE_NAMES,
  type AccessTokenProfile,
  type ProfileName,
} from './access-tokens/profiles.js'
export { metadataUrls } from './access-tokens/discovery.js'
export {
  introspectedAccessTokens,
  type IntrospectionOptions,
} from './access-tokens/introspection.js'
export {
  createProtectedResourceMetadata,
  resourceMetadataUrlOf,
  type BearerMethod,
  type MetadataAnswer,
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataDocument,
  type ProtectedResourceMetadataOptions,
} from './resource-metadata.js'
export {
  AccessTokenError,
  AccessTokenInvalid,
  AccessTokenUnavailable,
  RequestRejected,
  type AccessTokenErrorCode,
  type AccessTokenErrorOptions,
  type RejectionBody,
} from './errors.js'
export { renderRejection, EXPOSED_HEADERS, REJECTION_CODES } from './challenges.js'
export { mergeHeaderList } from './lib/header-list.js'
export type {
  Acceptance,
  AdapterOptions,
  RejectionMode,
  AnonymousAcceptance,
  ClaimRequirements,
  ClaimValue,
  AccessTokenInfo,
  AccessTokenValidator,
  ValidationContext,
  OutcomeEvent,
  Rejection,
  RejectionStatus,
  RequestLike,
  ResourceServer,
  ResourceServerOptions,
  RouteOptions,
  Verdict,
  VerifiedIdentity,
} from './types.js'
export { MemoryReplayStore, type ReplayStore, type NonceSource } from '@keybound/core'
