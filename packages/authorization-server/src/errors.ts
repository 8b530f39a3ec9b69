/**
 * The stable codes of `@keybound/authorization-server`'s errors. The classes live beside the
 * code that throws them (`OAuthError` in http/wire.ts, `ConfigError` in config.ts, `HsmKeyError`
 * in keys/hsm-keys.ts); all of them are `KeyboundError`s from `@keybound/core`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @packageDocumentation
 */

/**
 * Stable codes of the errors thrown by `@keybound/authorization-server`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export type AuthorizationServerErrorCode =
  'ERR_DPOP_AS_OAUTH_ERROR' | 'ERR_DPOP_AS_CONFIG_INVALID' | 'ERR_DPOP_AS_HSM_KEY_UNAVAILABLE'
