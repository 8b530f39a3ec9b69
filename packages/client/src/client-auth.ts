/**
 * Client authentication at the token and PAR endpoints (RFC 6749 §2.3, RFC 7523 §2.2, OIDC Core
 * §9): `none`, `client_secret_basic`, `client_secret_post`, `private_key_jwt`. Each is a small
 * handle applied to one request; DPoP is independent of it (RFC 9449 §11.11), so the
 * assertion key and the proof key may differ.
 * @packageDocumentation
 */
import { type DPoPKeyPair, type ProofSigner } from '@keybound/core'
import { findAlgorithm, invalidArgument } from '@keybound/core/internal'
import { randomBase64url } from './lib/base64url.js'
import { signJws } from './lib/jws.js'

/** What a client-authentication method may add to a request. */
export interface ClientAuthContext {
  clientId: string
  /** The issuer identifier, the audience of client assertions. */
  issuer: string
  /** The endpoint the request goes to. */
  endpoint: string
  params: URLSearchParams
  headers: Headers
}

/** A client-authentication method (an opaque handle). */
export interface ClientAuth {
  readonly method: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
  apply(context: ClientAuthContext): void | Promise<void>
}

function requireSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== 'string' || secret === '')
    throw invalidArgument('clientSecret', 'a non-empty string')
}

// RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded.
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}

/**
 * Public client: only `client_id` is sent.
 * @example
 * ```ts
 * createTokenClient({ metadata, clientId: 'spa', clientAuth: none(), key })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.1
 */
export function none(): ClientAuth {
  return {
    method: 'none',
    apply({ clientId, params }) {
      params.set('client_id', clientId)
    },
  }
}

/**
 * HTTP Basic authentication with the client secret.
 * @example
 * ```ts
 * createTokenClient({ metadata, clientId: 'worker', clientAuth: clientSecretBasic(process.env.SECRET!), key })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export function clientSecretBasic(secret: string): ClientAuth {
  requireSecret(secret)
  return {
    method: 'client_secret_basic',
    apply({ clientId, headers }) {
      headers.set('authorization', `Basic ${btoa(`${formEncode(clientId)}:${formEncode(secret)}`)}`)
    },
  }
}

/**
 * The client secret in the request body.
 * @example
 * ```ts
 * createTokenClient({ metadata, clientId: 'worker', clientAuth: clientSecretPost(secret), key })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export function clientSecretPost(secret: string): ClientAuth {
  requireSecret(secret)
  return {
    method: 'client_secret_post',
    apply({ clientId, params }) {
      params.set('client_id', clientId)
      params.set('client_secret', secret)
    },
  }
}

/**
 * A signed client assertion (RFC 7523) with a fresh `jti` per request; the key can be a core
 * key pair or any signer (HSM, KMS).
 * @example
 * ```ts
 * const clientKey = await importKeyPair(privateJwk)
 * createTokenClient({ metadata, clientId: 'svc', clientAuth: privateKeyJwt(clientKey, { kid: 'k1' }), key })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export function privateKeyJwt(
  key: DPoPKeyPair | ProofSigner,
  options: { kid?: string; lifetime?: number } = {},
): ClientAuth {
  if (typeof key !== 'object' || key === null || typeof key.alg !== 'string') {
    throw invalidArgument('key', 'a key pair or a signer for private_key_jwt')
  }
  if (findAlgorithm(key.alg) === undefined)
    throw invalidArgument('key', `of an "alg" private_key_jwt can sign with, not ${key.alg}`)
  const lifetime = options.lifetime ?? 60
  return {
    method: 'private_key_jwt',
    async apply({ clientId, issuer, params }) {
      const iat = Math.floor(Date.now() / 1000)
      const header: Record<string, unknown> = { typ: 'JWT' }
      if (options.kid !== undefined) header.kid = options.kid
      const assertion = await signJws(key, header, {
        iss: clientId,
        sub: clientId,
        aud: issuer,
        jti: randomBase64url(16),
        iat,
        exp: iat + lifetime,
      })
      params.set('client_id', clientId)
      params.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      params.set('client_assertion', assertion)
    },
  }
}
