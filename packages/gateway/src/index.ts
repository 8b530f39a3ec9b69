/**
 * `@keybound/gateway`: a reverse proxy that requires DPoP (RFC 9449) in front of any HTTP API.
 * It verifies every request with `@keybound/server`, answers refusals with the RFC challenges,
 * and streams accepted requests to the upstream with the verified identity in headers.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @packageDocumentation
 * @module @keybound/gateway
 */
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js'
export {
  loadGatewayConfig,
  resolveGatewayConfig,
  GatewayConfigError,
  type GatewayErrorCode,
  DEFAULT_IDENTITY_HEADERS,
  type GatewayConfig,
  type GatewayConfigInput,
  type RouteConfig,
  type RouteConfigInput,
  type RedisReplayInput,
  type AdminInput,
  type CorsInput,
  type PathsInput,
  type RequestHeadersInput,
} from './config.js'
export { createVerifyService, type VerifyService } from './verify/service.js'
export type { CheckRequest, CheckAnswer } from './verify/check.js'
export type { VerifyInput, VerifyConfig } from './verify/config.js'
export type { ConfigUse } from './config.js'
export { GATEWAY_SHAPE, gatewayJsonSchema } from './config-shape.js'
