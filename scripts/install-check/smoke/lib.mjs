// Shared by the install-check smoke scripts (run on Node, and by runtime.mjs on Bun and Deno). They run inside a temporary project that installed
// the packed tarballs, so they import only what that project installed.
import { once } from 'node:events'
import { createServer } from 'node:http'

let failures = 0

/** Runs one named check and prints PASS or FAIL with the reason; never throws. */
export async function check(name, body) {
  try {
    await body()
    console.log(`PASS ${name}`)
  } catch (error) {
    failures += 1
    console.log(`FAIL ${name}: ${error?.stack ?? error}`)
  }
}

/** Ends the smoke script: exit code 1 when any check failed. */
export function finish() {
  process.exitCode = failures === 0 ? 0 : 1
}

/** Throws with a message when a condition does not hold. */
export function expect(condition, message) {
  if (!condition) throw new Error(message)
}

/** Listens on an ephemeral loopback port; resolves with the origin and a close function. */
export async function listenOnLoopback(server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** A node:http server that hands each request to a fetch-style handler (Hono's app.fetch). */
export function serveFetchHandler(handler) {
  return createServer(async (req, res) => {
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const body = chunks.length === 0 ? undefined : Buffer.concat(chunks)
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((one) => [name, one]),
      ),
      body,
    })
    const response = await handler(request)
    res.writeHead(response.status, [...response.headers].flat())
    res.end(Buffer.from(await response.arrayBuffer()))
  })
}

const encoder = new TextEncoder()
// btoa rather than Buffer: the runtime smokes load this file on Deno, which has no global Buffer.
const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
const encodeJson = (value) => base64url(encoder.encode(JSON.stringify(value)))

/**
 * An issuer of RFC 9068 access tokens for resource-server smokes that run without an
 * authorization server: an ES256 key made here, its JWKS, and a token bound to a proof key.
 */
export async function createTokenIssuer(issuer, audience) {
  const { privateKey, publicKey } = await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign', 'verify'],
  )
  const publicJwk = {
    ...(await crypto.subtle.exportKey('jwk', publicKey)),
    kid: 'smoke',
    alg: 'ES256',
    use: 'sig',
  }
  delete publicJwk.key_ops
  delete publicJwk.ext
  return {
    jwks: { keys: [publicJwk] },
    async issue({ jkt, scope }) {
      const now = Math.floor(Date.now() / 1000)
      const header = encodeJson({ alg: 'ES256', typ: 'at+jwt', kid: 'smoke' })
      const payload = encodeJson({
        iss: issuer,
        aud: audience,
        sub: 'smoke-user',
        client_id: 'smoke-client',
        iat: now,
        exp: now + 300,
        jti: crypto.randomUUID(),
        scope,
        cnf: { jkt },
      })
      const signature = await crypto.subtle.sign(
        { name: 'ECDSA', hash: 'SHA-256' },
        privateKey,
        encoder.encode(`${header}.${payload}`),
      )
      return `${header}.${payload}.${base64url(new Uint8Array(signature))}`
    },
  }
}

/** The issuer and audience of the resource-server smokes' tokens. */
export const ISSUER = 'https://as.example.com'
export const AUDIENCE = 'https://api.example.com'

/**
 * A resource server (from the `@keybound/server` module the caller imported) that accepts
 * tokens of a fresh issuer, and that issuer.
 */
export async function createSmokeResourceServer({ createResourceServer, jwtAccessTokens }) {
  const tokens = await createTokenIssuer(ISSUER, AUDIENCE)
  const resourceServer = createResourceServer({
    publicBaseUrl: AUDIENCE,
    accessTokens: jwtAccessTokens({ issuer: ISSUER, audience: AUDIENCE, jwks: tokens.jwks }),
  })
  return { tokens, resourceServer }
}

/** GET /notes with a bound token and a valid proof must answer 200 for the token's subject. */
export async function expectAccepted(core, tokens, origin) {
  const key = await core.generateKeyPair('ES256')
  const accessToken = await tokens.issue({
    jkt: await core.calculateJwkThumbprint(key.publicJwk),
    scope: 'notes:read',
  })
  const proof = await core.createProof(key, { htm: 'GET', htu: `${AUDIENCE}/notes`, accessToken })
  const response = await fetch(`${origin}/notes`, {
    headers: { authorization: `DPoP ${accessToken}`, dpop: proof },
  })
  const text = await response.text()
  expect(response.status === 200, `status ${response.status}: ${text}`)
  expect(JSON.parse(text).subject === 'smoke-user', `body ${text}`)
}

/** GET /notes without credentials must answer 401 with a DPoP challenge without an error code. */
export async function expectChallenged(origin) {
  const response = await fetch(`${origin}/notes`)
  await response.body?.cancel()
  const challenge = response.headers.get('www-authenticate') ?? ''
  expect(response.status === 401, `status ${response.status}`)
  expect(/^DPoP\b/.test(challenge) && /algs="[^"]*ES256/.test(challenge), `challenge ${challenge}`)
  expect(!/error=/.test(challenge), `no error code without credentials: ${challenge}`)
}
