/**
 * `@keybound/authorization-server`: an OAuth 2.0 authorization server that issues DPoP-bound
 * tokens (RFC 9449), on Fastify, with SQLite or PostgreSQL storage.
 *
 * @example
 * ```ts
 * import { createAuthorizationServer, loadConfigFile } from '@keybound/authorization-server'
 * const server = await createAuthorizationServer(await loadConfigFile('keybound-as.yaml'))
 * await server.listen({ port: 8443 })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @packageDocumentation
 * @module @keybound/authorization-server
 */
export {
  createAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from './server.js'
export {
  ConfigError,
  ENVIRONMENT_VARIABLES,
  checkClient,
  checkUrl,
  URL_RULES,
  lintConfig,
  loadConfigFile,
  parseConfig,
  resolveConfig,
  type AccessTokenFormat,
  type AuthorizationServerConfig,
  type ClientAuthMethod,
  type ClientConfig,
  type GrantType,
  type MetricsConfig,
  type PasswordConfig,
  type SigningAlgorithm,
  type SigningPkcs11Config,
  type UserConfig,
} from './config.js'
export { AUTHORIZATION_SERVER_SHAPE, authorizationServerJsonSchema } from './config/shape.js'
export { HsmKeyError, openHsmKeyring, type HsmKeyring, type HsmSigner } from './keys/hsm-keys.js'
export { checkPassword, hashPassword, verifyPassword } from './users/passwords.js'
export { runServeCommand, SERVE_USAGE } from './serve-command.js'
export {
  rotateSigningKeys,
  loadSigningKeys,
  type KeySet,
  type SigningKey,
} from './keys/signing-keys.js'
export { openDatabase, type DatabaseOptions, type OpenDatabase } from './storage/database.js'
export type { SweepReport, SweepSettings } from './storage/sweep.js'
export { OAuthError, toOAuthError, type OAuthErrorCode } from './http/wire.js'
export type { AuthorizationServerErrorCode } from './errors.js'
export {
  TOKEN_EXCHANGE_GRANT,
  type DelegationRule,
  type TokenExchangeConfig,
  type TrustedIssuerAlgorithm,
  type TrustedIssuerConfig,
} from './grants/token-exchange-config.js'
export { TOKEN_TYPES, type ExchangeResponse } from './grants/token-exchange.js'
