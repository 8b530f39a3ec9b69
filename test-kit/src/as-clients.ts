/**
 * The clients, secrets and redirect URI of a Keybound authorization server under test, shared by
 * the authorization server's own suites and the interop suites that run peers against it, so
 * both speak to the same registrations.
 */
import { generateKeyPairSync } from 'node:crypto'

/** The `client_secret` of every confidential test client. */
export const SECRET = 'service-secret-0123456789abcdef'
/** Alice's password, the one user of a test server. */
export const PASSWORD = 'correct horse battery staple'
/** The redirect URI of every test client: nothing listens there, tests read the `Location`. */
export const REDIRECT = 'http://127.0.0.1:9/cb'

/** A key pair for private_key_jwt and request objects (RFC 7523, RFC 9101). */
export const clientSigningKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const clientJwk = {
  ...clientSigningKey.publicKey.export({ format: 'jwk' }),
  kid: 'client-key-1',
  alg: 'ES256',
}

/**
 * The registered clients of a test authorization server: secret-based, `private_key_jwt`, opaque,
 * resource-server, first- and third-party, Bearer, PAR-only and JAR clients.
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export function testClients(): Record<string, unknown>[] {
  return [
    {
      client_id: 'service',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      scope: 'read write',
      dpop_bound_access_tokens: true,
    },
    {
      client_id: 'service-post',
      client_secret: SECRET,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      scope: 'read',
    },
    {
      client_id: 'service-jwt',
      jwks: { keys: [clientJwk] },
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      scope: 'read',
    },
    {
      client_id: 'opaque-service',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      scope: 'read',
      access_token_format: 'opaque',
    },
    {
      client_id: 'resource-server',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      resource_server: true,
    },
    { client_id: 'public-app', redirect_uris: [REDIRECT], scope: 'read write', first_party: true },
    {
      client_id: 'third-party',
      client_name: 'Third <Party>',
      redirect_uris: [REDIRECT],
      scope: 'read',
    },
    {
      client_id: 'confidential-app',
      client_secret: SECRET,
      redirect_uris: [REDIRECT],
      scope: 'read',
      first_party: true,
    },
    {
      client_id: 'bearer-app',
      redirect_uris: [REDIRECT],
      scope: 'read',
      first_party: true,
      bearer_access_tokens: true,
    },
    {
      client_id: 'par-only',
      redirect_uris: [REDIRECT],
      scope: 'read',
      first_party: true,
      require_pushed_authorization_requests: true,
    },
    {
      client_id: 'jar-app',
      redirect_uris: [REDIRECT],
      scope: 'read',
      first_party: true,
      jwks: { keys: [clientJwk] },
      token_endpoint_auth_method: 'none',
    },
  ]
}
