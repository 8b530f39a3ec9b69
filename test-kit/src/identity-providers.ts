/**
 * Fixture issuers for the identity providers Keybound has profiles for: Keycloak, Auth0, Okta,
 * Microsoft Entra ID, WSO2 Identity Server and Spring Authorization Server. None of them can run
 * here (hosted services, or a JVM server per test run), so these are tests by contract: each
 * fixture serves a real JWKS and OpenID/RFC 8414 metadata over HTTP on loopback, at the paths
 * the provider uses, and mints access tokens and introspection answers in exactly the shape the
 * provider's public documentation or source defines, DPoP-bound (`cnf.jkt`) or not. Where each
 * shape comes from is listed per provider in docs/identity-providers.md.
 */
import { createServer } from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import type { ProfileName } from '@keybound/server'
import { listen } from './net.js'

/** What a test asks for; the fixture writes it the provider's way. */
export interface ProviderTokenOptions {
  jkt?: string
  /** Space-delimited, as a client requests it. */
  scope?: string
  sub?: string
  /** Seconds from now (negative for an expired token). */
  expiresIn?: number
  /** Another audience than the resource server's. */
  aud?: string
  /** Claims set last, over the provider's own (to forge shapes in tests). */
  claims?: Record<string, unknown>
  /** A header `typ` other than the provider's (`null` leaves it out). */
  typ?: string | null
}

export interface ProviderFixture {
  readonly profile: Exclude<ProfileName, 'rfc9068'>
  /** The provider's `iss` for this fixture (its path shape included). */
  readonly issuer: string
  readonly jwksUri: string
  /** What the resource server configures as its `audience`. */
  readonly audience: string
  /** The client id the resource server learns from the provider's client-id claim, if any. */
  readonly clientId: string | undefined
  /** Whether the provider has an RFC 7662 introspection endpoint. */
  readonly introspects: boolean
  /** Metadata documents served, counted (discovery caching). */
  readonly metadataFetches: number
  /** Serve metadata naming another issuer (the mix-up case), or the real one again. */
  lieAboutIssuer(other: string | undefined): void
  /**
   * Where metadata is served: OpenID discovery (appended to the issuer, the default), RFC 8414
   * §3.1 (well-known segment before the issuer's path), or nowhere.
   */
  serveMetadataAt(style: 'openid' | 'rfc8414' | 'none'): void
  mint(options?: ProviderTokenOptions): Promise<string>
  /** The provider's introspection answer for a token minted with `options` (active). */
  introspectionAnswer(options?: ProviderTokenOptions): Record<string, unknown>
  close(): Promise<void>
}

const CLIENT_ID = 'client-1'
// A fixed tenant and API application ID in Entra's GUID form.
const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const ENTRA_API_APP_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3'

interface Shape {
  /** Path of the issuer under the fixture's origin. */
  issuerPath: string
  jwksPath: string
  audience: string
  clientId: string | undefined
  introspects: boolean
  headerTyp: string | undefined
  /** The token claims (without `cnf`, added by `mint`). */
  claims(issuer: string, options: ProviderTokenOptions, now: number): Record<string, unknown>
  /** The introspection answer, when the provider has introspection. */
  introspection?(
    claims: Record<string, unknown>,
    options: ProviderTokenOptions,
  ): Record<string, unknown>
}

const scopesOf = (options: ProviderTokenOptions): string[] =>
  (options.scope ?? 'read write').split(' ').filter((scope) => scope !== '')

const bound = (options: ProviderTokenOptions) => options.jkt !== undefined

// Keycloak (server admin guide and org.keycloak.representations.AccessToken): header typ JWT;
// kind in the `typ` claim (Bearer or DPoP); client in `azp`; `scope` string; realm roles under
// `realm_access`; introspection echoes the claims with `active`, `client_id`, `token_type`.
const KEYCLOAK: Shape = {
  issuerPath: '/realms/keybound',
  jwksPath: '/realms/keybound/protocol/openid-connect/certs',
  audience: 'orders-api',
  clientId: CLIENT_ID,
  introspects: true,
  headerTyp: 'JWT',
  claims: (issuer, options, now) => ({
    exp: now + (options.expiresIn ?? 300),
    iat: now,
    auth_time: now - 5,
    jti: randomUUID(),
    iss: issuer,
    aud: [options.aud ?? 'orders-api', 'account'],
    sub: options.sub ?? 'alice',
    typ: bound(options) ? 'DPoP' : 'Bearer',
    azp: CLIENT_ID,
    sid: randomUUID(),
    acr: '1',
    'allowed-origins': ['https://app.example.test'],
    realm_access: { roles: ['default-roles-keybound', 'offline_access'] },
    resource_access: { account: { roles: ['view-profile'] } },
    scope: ['profile', 'email', ...scopesOf(options)].join(' '),
    email_verified: true,
    preferred_username: options.sub ?? 'alice',
  }),
  introspection: (claims, options) => ({
    ...claims,
    active: true,
    client_id: CLIENT_ID,
    username: options.sub ?? 'alice',
    token_type: bound(options) ? 'DPoP' : 'Bearer',
  }),
}

// Auth0 ("Access Token Profiles", Auth0 dialect): header typ JWT; `aud` an array with the
// tenant's /userinfo; client in `azp`; `scope` string; no jti; no introspection endpoint.
const AUTH0: Shape = {
  issuerPath: '/',
  jwksPath: '/.well-known/jwks.json',
  audience: 'https://orders.example.test',
  clientId: CLIENT_ID,
  introspects: false,
  headerTyp: 'JWT',
  claims: (issuer, options, now) => ({
    iss: issuer,
    sub: options.sub ?? 'alice',
    aud: [options.aud ?? 'https://orders.example.test', `${issuer}userinfo`],
    iat: now,
    exp: now + (options.expiresIn ?? 300),
    scope: ['openid', 'profile', ...scopesOf(options)].join(' '),
    azp: CLIENT_ID,
  }),
}

// Okta custom authorization server ("Tokens" reference, access token claims; /introspect):
// header with kid and alg only; `cid` client; `scp` array; `uid`; `ver` 1; introspection has
// `scope` string, `client_id`, `token_type`.
const OKTA: Shape = {
  issuerPath: '/oauth2/default',
  jwksPath: '/oauth2/default/v1/keys',
  audience: 'api://default',
  clientId: CLIENT_ID,
  introspects: true,
  headerTyp: undefined,
  claims: (issuer, options, now) => ({
    ver: 1,
    jti: `AT.${randomBytes(32).toString('base64url')}`,
    iss: issuer,
    aud: options.aud ?? 'api://default',
    iat: now,
    exp: now + (options.expiresIn ?? 300),
    cid: CLIENT_ID,
    uid: '00u1abcdefGHIJKLM0h8',
    scp: scopesOf(options),
    auth_time: now - 5,
    sub: options.sub ?? 'alice',
  }),
  introspection: (claims, options) => ({
    active: true,
    scope: scopesOf(options).join(' '),
    username: options.sub ?? 'alice',
    exp: claims.exp,
    iat: claims.iat,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
    token_type: bound(options) ? 'DPoP' : 'Bearer',
    client_id: CLIENT_ID,
    uid: claims.uid,
  }),
}

// Microsoft Entra ID v2.0 ("Access token claims reference"): header typ always JWT; `aud` the
// API's application ID; client in `azp`; delegated permissions in `scp` (space-delimited).
// Entra documents no `cnf.jkt`: the bound tokens here carry RFC 9449's shape (see the docs).
const ENTRA: Shape = {
  issuerPath: `/${ENTRA_TENANT}/v2.0`,
  jwksPath: `/${ENTRA_TENANT}/discovery/v2.0/keys`,
  audience: `api://${ENTRA_API_APP_ID}`,
  clientId: CLIENT_ID,
  introspects: false,
  headerTyp: 'JWT',
  claims: (issuer, options, now) => ({
    aud: options.aud ?? ENTRA_API_APP_ID,
    iss: issuer,
    iat: now,
    nbf: now,
    exp: now + (options.expiresIn ?? 300),
    aio: randomBytes(24).toString('base64url'),
    azp: CLIENT_ID,
    azpacr: '0',
    name: 'Alice',
    oid: randomUUID(),
    preferred_username: 'alice@example.test',
    rh: '0.AAAA',
    scp: scopesOf(options).join(' '),
    sub: options.sub ?? 'alice',
    tid: ENTRA_TENANT,
    uti: randomBytes(16).toString('base64url'),
    ver: '2.0',
  }),
}

// WSO2 Identity Server (JWT access tokens, "Token binding: DPoP"): header typ at+jwt; `aud`
// holds the client id next to the API; `client_id`, `azp`, `aut`; `scope` string;
// introspection adds `token_type` and `binding_type`.
const WSO2: Shape = {
  issuerPath: '/oauth2/token',
  jwksPath: '/oauth2/jwks',
  audience: 'https://orders.example.test',
  clientId: CLIENT_ID,
  introspects: true,
  headerTyp: 'at+jwt',
  claims: (issuer, options, now) => ({
    sub: options.sub ?? 'alice',
    aut: 'APPLICATION_USER',
    aud: [CLIENT_ID, options.aud ?? 'https://orders.example.test'],
    nbf: now,
    azp: CLIENT_ID,
    scope: scopesOf(options).join(' '),
    iss: issuer,
    exp: now + (options.expiresIn ?? 300),
    iat: now,
    jti: randomUUID(),
    client_id: CLIENT_ID,
  }),
  introspection: (claims, options) => ({
    active: true,
    token_type: bound(options) ? 'DPoP' : 'Bearer',
    scope: claims.scope,
    client_id: CLIENT_ID,
    username: `${options.sub ?? 'alice'}@carbon.super`,
    exp: claims.exp,
    iat: claims.iat,
    nbf: claims.nbf,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
    ...(bound(options) ? { binding_type: 'DPoP', binding_ref: randomUUID() } : {}),
  }),
}

// Spring Authorization Server (JwtGenerator, OAuth2TokenIntrospection): header alg and kid
// only; `aud` a list; `scope` a JSON array in the JWT and a string in introspection; no
// client-id claim in the JWT (it is in the introspection answer).
const SPRING: Shape = {
  issuerPath: '',
  jwksPath: '/oauth2/jwks',
  audience: 'orders-api',
  clientId: undefined,
  introspects: true,
  headerTyp: undefined,
  claims: (issuer, options, now) => ({
    sub: options.sub ?? 'alice',
    aud: [options.aud ?? 'orders-api'],
    nbf: now,
    scope: scopesOf(options),
    iss: issuer,
    exp: now + (options.expiresIn ?? 300),
    iat: now,
    jti: randomUUID(),
  }),
  introspection: (claims, options) => ({
    active: true,
    client_id: CLIENT_ID,
    iat: claims.iat,
    exp: claims.exp,
    scope: scopesOf(options).join(' '),
    token_type: bound(options) ? 'DPoP' : 'Bearer',
    nbf: claims.nbf,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
  }),
}

const SHAPES: Record<ProviderFixture['profile'], Shape> = {
  keycloak: KEYCLOAK,
  auth0: AUTH0,
  okta: OKTA,
  entra: ENTRA,
  wso2: WSO2,
  spring: SPRING,
}

export const PROVIDERS = Object.keys(SHAPES) as ProviderFixture['profile'][]
export const INTROSPECTING_PROVIDERS = PROVIDERS.filter((name) => SHAPES[name].introspects)

/** Starts the fixture issuer of one provider on 127.0.0.1. */
export async function startProviderFixture(
  profile: ProviderFixture['profile'],
): Promise<ProviderFixture> {
  const shape = SHAPES[profile]
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const kid = randomUUID()
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }
  let origin = ''
  let issuer = ''
  let metadataIssuer: string | undefined
  let metadataFetches = 0
  let metadataStyle: 'openid' | 'rfc8414' | 'none' = 'openid'
  const issuerPathNoSlash = shape.issuerPath.replace(/\/$/, '')
  const metadataPaths = {
    openid: `${issuerPathNoSlash}/.well-known/openid-configuration`,
    rfc8414: `/.well-known/oauth-authorization-server${issuerPathNoSlash}`,
    none: undefined,
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0]
    res.setHeader('Content-Type', 'application/json')
    if (path === shape.jwksPath) {
      res.end(JSON.stringify({ keys: [publicJwk] }))
    } else if (path === metadataPaths[metadataStyle]) {
      metadataFetches++
      res.end(
        JSON.stringify({
          issuer: metadataIssuer ?? issuer,
          jwks_uri: `${origin}${shape.jwksPath}`,
          response_types_supported: ['code'],
          dpop_signing_alg_values_supported: ['ES256', 'RS256'],
        }),
      )
    } else {
      res.statusCode = 404
      res.end('{}')
    }
  })
  const { url, close } = await listen(server)
  origin = url
  issuer = `${url}${shape.issuerPath}`

  function claimsFor(options: ProviderTokenOptions): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000)
    return {
      ...shape.claims(issuer, options, now),
      ...(options.jkt === undefined ? {} : { cnf: { jkt: options.jkt } }),
      ...options.claims,
    }
  }

  return {
    profile,
    issuer,
    jwksUri: `${url}${shape.jwksPath}`,
    audience: shape.audience,
    clientId: shape.clientId,
    introspects: shape.introspects,
    get metadataFetches() {
      return metadataFetches
    },
    lieAboutIssuer: (other) => void (metadataIssuer = other),
    serveMetadataAt: (style) => void (metadataStyle = style),
    async mint(options = {}) {
      const typ = options.typ === undefined ? shape.headerTyp : (options.typ ?? undefined)
      return new SignJWT(claimsFor(options))
        .setProtectedHeader({ alg: 'ES256', kid, ...(typ === undefined ? {} : { typ }) })
        .sign(privateKey)
    },
    introspectionAnswer(options = {}) {
      if (shape.introspection === undefined)
        throw new Error(`${profile} has no introspection endpoint`)
      const claims = claimsFor(options)
      return {
        ...shape.introspection(claims, options),
        ...(options.jkt === undefined ? {} : { cnf: { jkt: options.jkt } }),
      }
    },
    close,
  }
}
