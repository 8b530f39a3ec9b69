/**
 * oidc-provider on 127.0.0.1 as a peer that verifies DPoP proofs: client_credentials with
 * nonces required and JWT access tokens, so the key a token is bound to can be read from its
 * `cnf.jkt` (RFC 9449 §6.1).
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'

export interface OidcPeer {
  readonly tokenEndpoint: string
  /** Sends a client_credentials request with `proof` in the DPoP header. */
  tokenRequest(proof: string): Promise<Response>
  close(): Promise<void>
}

export async function startOidcPeer(algs: readonly string[]): Promise<OidcPeer> {
  const secret = randomBytes(24).toString('base64url')
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const audience = 'https://rs.pkcs11.test'
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'as', alg: 'ES256', use: 'sig' }] },
    clients: [
      {
        client_id: 'hsm-client',
        client_secret: secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'read',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    scopes: ['read'],
    enabledJWA: { dPoPSigningAlgValues: [...algs] as never },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'read',
          audience,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  })
  server.on('request', provider.callback())
  const tokenEndpoint = `${issuer}/token`
  return {
    tokenEndpoint,
    tokenRequest: (proof) =>
      fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`hsm-client:${secret}`).toString('base64')}`,
          dpop: proof,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }),
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
