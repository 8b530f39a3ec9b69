/**
 * What many suites start first: a test issuer (JWKS over HTTP) and an ES256 client key, closed
 * when the suite ends.
 */
import { afterAll, beforeAll } from 'vitest'
import { generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import {
  createResourceServer,
  jwtAccessTokens,
  type ResourceServer,
  type ResourceServerOptions,
} from '@keybound/server'
import { startTestIssuer, type TestIssuer } from '@keybound/test-kit/issuer'

export interface IssuerAndKey {
  readonly issuer: TestIssuer
  readonly key: DPoPKeyPair
}

/** Registers the hooks; read `issuer` and `key` inside tests, once `beforeAll` has run. */
export function useIssuerAndKey(audience: string): IssuerAndKey {
  const suite = {} as { issuer: TestIssuer; key: DPoPKeyPair }
  beforeAll(async () => {
    ;[suite.issuer, suite.key] = await Promise.all([
      startTestIssuer({ audience }),
      generateKeyPair('ES256'),
    ])
  })
  afterAll(async () => {
    await suite.issuer?.close()
  })
  return suite
}

/** A resource server at `publicBaseUrl` that takes the suite issuer's JWTs made for it. */
export function resourceServerFor(
  suite: IssuerAndKey,
  publicBaseUrl: string,
  extra: Partial<ResourceServerOptions> = {},
): ResourceServer {
  return createResourceServer({
    publicBaseUrl,
    accessTokens: jwtAccessTokens({
      issuer: suite.issuer.issuer,
      audience: publicBaseUrl,
      jwksUri: suite.issuer.jwksUri,
    }),
    ...extra,
  })
}
