/**
 * Access tokens of both kinds for the suites: RFC 9068 JWTs from the test issuer, or opaque
 * tokens registered at the test introspection endpoint. Same options, same meaning. With a
 * provider fixture, the tokens and introspection answers take that provider's documented shape
 * and the validator uses its profile (tests by contract, see test-kit/src/identity-providers.ts).
 */
import type { AccessTokenValidator } from '@keybound/server'
import { introspectedAccessTokens, jwtAccessTokens } from '@keybound/server'
import type { ProviderFixture } from '@keybound/test-kit/identity-providers'
import type { TestIntrospection } from '@keybound/test-kit/introspection'
import type { TestIssuer } from '@keybound/test-kit/issuer'

export type TokenKind = 'jwt' | 'introspection'
export const TOKEN_KINDS: readonly TokenKind[] = ['jwt', 'introspection']

export interface TokenOptions {
  jkt?: string
  scope?: string
  sub?: string
}

export interface TokenFactory {
  readonly kind: TokenKind
  /** The client id a validated token reports (`undefined` where the provider writes none). */
  readonly clientId: string | undefined
  issue(options?: TokenOptions): Promise<string>
  /** A token the validator must refuse (bad `typ` for JWTs, inactive for introspection). */
  issueInvalid(options?: TokenOptions): Promise<string>
  validator(): AccessTokenValidator
}

export function tokenFactory(
  kind: TokenKind,
  issuer: TestIssuer,
  introspection: TestIntrospection,
): TokenFactory {
  if (kind === 'jwt') {
    return {
      kind,
      clientId: 'client-1',
      issue: (options = {}) => issuer.mint(options),
      issueInvalid: (options = {}) => issuer.mint({ ...options, typ: 'JWT' }),
      validator: () =>
        jwtAccessTokens({
          issuer: issuer.issuer,
          audience: issuer.audience,
          jwksUri: issuer.jwksUri,
          jwksOptions: { cooldownDuration: 0 },
        }),
    }
  }
  const response = (options: TokenOptions): Record<string, unknown> => ({
    sub: options.sub ?? 'alice',
    client_id: 'client-1',
    scope: options.scope ?? 'read write',
    iss: issuer.issuer,
    aud: issuer.audience,
    exp: Math.floor(Date.now() / 1000) + 300,
    ...(options.jkt === undefined
      ? { token_type: 'Bearer' }
      : { token_type: 'DPoP', cnf: { jkt: options.jkt } }),
  })
  return {
    kind,
    clientId: 'client-1',
    issue: async (options = {}) => introspection.issue(response(options)),
    issueInvalid: async (options = {}) =>
      introspection.issue({ ...response(options), active: false }),
    validator: () =>
      introspectedAccessTokens({
        endpoint: introspection.endpoint,
        clientId: introspection.clientId,
        clientSecret: introspection.clientSecret,
        audience: issuer.audience,
      }),
  }
}

const OTHER_AUDIENCE = 'https://other-api.example.test'

/** Tokens in the shape of one provider, validated with its profile. */
export function providerTokenFactory(
  kind: TokenKind,
  provider: ProviderFixture,
  introspection: TestIntrospection,
): TokenFactory {
  if (kind === 'jwt') {
    return {
      kind,
      clientId: provider.clientId,
      issue: (options = {}) => provider.mint(options),
      // Made for another API: every profile refuses it (RS16).
      issueInvalid: (options = {}) => provider.mint({ ...options, aud: OTHER_AUDIENCE }),
      validator: () =>
        jwtAccessTokens({
          issuer: provider.issuer,
          audience: provider.audience,
          jwksUri: provider.jwksUri,
          profile: provider.profile,
          jwksOptions: { cooldownDuration: 0 },
        }),
    }
  }
  return {
    kind,
    // Every introspection answer names the client in `client_id`.
    clientId: 'client-1',
    issue: async (options = {}) => introspection.issue(provider.introspectionAnswer(options)),
    issueInvalid: async (options = {}) =>
      introspection.issue({ ...provider.introspectionAnswer(options), active: false }),
    validator: () =>
      introspectedAccessTokens({
        endpoint: introspection.endpoint,
        clientId: introspection.clientId,
        clientSecret: introspection.clientSecret,
        audience: provider.audience,
        profile: provider.profile,
      }),
  }
}
