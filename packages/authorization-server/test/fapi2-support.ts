/**
 * Support for the FAPI 2.0 suite: clients with signing keys (private_key_jwt assertions made
 * with jose), a DPoP prover that signs every proof by hand (so a test can bend any header or
 * claim, as the OpenID Foundation's conformance modules do), our resource server
 * (@keybound/server through its node adapter) on 127.0.0.1, and the PAR + login + token flow.
 */
import {
  constants,
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import * as jose from 'jose'
import { createResourceServer, jwtAccessTokens } from '@keybound/server'
import { protect } from '@keybound/server/node'
import { authorize, pkce, postForm, REDIRECT, type Answer } from './support.js'
import { listen } from '@keybound/test-kit/net'

/** The profile's algorithms, as the test's resource server accepts them too. */
export const PROFILE_ALGORITHMS = ['PS256', 'ES256', 'EdDSA']

export type KeyAlg = 'ES256' | 'PS256' | 'RS256' | 'ES384'

/** A key pair with its public JWK, for client assertions or DPoP proofs. */
export interface TestKey {
  alg: KeyAlg
  privateKey: KeyObject
  jwk: Record<string, string>
  jkt: string
}

/** Makes a key: ES256 on P-256, ES384 on P-384, PS256/RS256 on RSA of `bits` (default 2048). */
export async function makeKey(alg: KeyAlg = 'ES256', bits = 2048): Promise<TestKey> {
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
    : generateKeyPairSync('rsa', { modulusLength: bits })
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, string>
  return {
    alg,
    privateKey: pair.privateKey,
    jwk,
    jkt: await jose.calculateJwkThumbprint(jwk as jose.JWK),
  }
}

/** Signs a JWS compact serialization by hand (`alg` of `header` decides how). */
export function signJws(
  key: TestKey,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${encode(header)}.${encode(payload)}`
  const data = Buffer.from(input)
  const alg = header.alg
  const signature =
    alg === 'ES256' || alg === 'ES384'
      ? sign(alg === 'ES256' ? 'sha256' : 'sha384', data, {
          key: key.privateKey,
          dsaEncoding: 'ieee-p1363',
        })
      : alg === 'PS256'
        ? sign('sha256', data, {
            key: key.privateKey,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: 32,
          })
        : alg === 'none'
          ? Buffer.alloc(0)
          : sign('sha256', data, key.privateKey)
  return `${input}.${signature.toString('base64url')}`
}

function encode(part: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(part)).toString('base64url')
}

/** Changes to one hand-made proof. */
export interface ProofChanges {
  htm?: string
  /** Claims to set (a value of `undefined` removes the claim). */
  claims?: Record<string, unknown>
  /** Header members to set (`undefined` removes the member). */
  header?: Record<string, unknown>
  /** The access token for `ath` (resource requests). */
  accessToken?: string
}

/** A client's DPoP key with the last nonce each server gave it. */
export class Prover {
  private readonly nonces = new Map<string, string>()
  constructor(
    readonly key: TestKey,
    private readonly clock: () => number = Date.now,
  ) {}

  static async create(alg: KeyAlg = 'ES256', clock?: () => number): Promise<Prover> {
    return new Prover(await makeKey(alg), clock)
  }

  get jkt(): string {
    return this.key.jkt
  }

  /** A proof for `htu`: typ, alg and jwk in the header, jti, htm, htu, iat and the nonce. */
  proof(htu: string, changes: ProofChanges = {}): string {
    const header = apply({ typ: 'dpop+jwt', alg: this.key.alg, jwk: this.key.jwk }, changes.header)
    const nonce = this.nonces.get(new URL(htu).origin)
    const claims = apply(
      {
        jti: randomBytes(16).toString('base64url'),
        htm: changes.htm ?? 'POST',
        htu,
        iat: Math.floor(this.clock() / 1000),
        ...(nonce === undefined ? {} : { nonce }),
        ...(changes.accessToken === undefined
          ? {}
          : { ath: createHash('sha256').update(changes.accessToken).digest('base64url') }),
      },
      changes.claims,
    )
    return signJws(this.key, header, claims)
  }

  /** POSTs a form with a proof; answers a nonce challenge once (RFC 9449 §8). */
  async post(
    url: string,
    form: Record<string, string> | (() => Promise<Record<string, string>>),
    changes: ProofChanges = {},
  ): Promise<Answer> {
    const body = async () => (typeof form === 'function' ? form() : form)
    let answer = await postForm(url, await body(), { dpop: this.proof(url, changes) })
    if (answer.status === 400 && answer.body?.error === 'use_dpop_nonce') {
      this.remember(url, answer.headers)
      answer = await postForm(url, await body(), { dpop: this.proof(url, changes) })
    }
    this.remember(url, answer.headers)
    return answer
  }

  private remember(url: string, headers: Headers): void {
    const nonce = headers.get('dpop-nonce')
    if (nonce !== null) this.nonces.set(new URL(url).origin, nonce)
  }
}

function apply(
  base: Record<string, unknown>,
  changes: Record<string, unknown> = {},
): Record<string, unknown> {
  const out = { ...base }
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete out[name]
    else out[name] = value
  }
  return out
}

/** A FAPI client: its id and the key its assertions are signed with. */
export interface FapiClient {
  clientId: string
  key: TestKey
}

/** The config entry of a FAPI client (confidential, private_key_jwt, PAR, first party). */
export function fapiClientConfig(
  client: FapiClient,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    client_id: client.clientId,
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [{ ...client.key.jwk, kid: `${client.clientId}-key`, alg: client.key.alg }] },
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'read',
    first_party: true,
    ...extra,
  }
}

/** A private_key_jwt client assertion (RFC 7523 §2.2) for `audience`, with claim changes. */
export async function clientAssertion(
  client: FapiClient,
  audience: string,
  changes: { iat?: number; nbf?: number; alg?: KeyAlg; nowSeconds?: number } = {},
): Promise<string> {
  const now = changes.nowSeconds ?? Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {
    iss: client.clientId,
    sub: client.clientId,
    aud: audience,
    jti: randomBytes(16).toString('base64url'),
    iat: changes.iat ?? now,
    exp: now + 60,
    ...(changes.nbf === undefined ? {} : { nbf: changes.nbf }),
  }
  const alg = changes.alg ?? client.key.alg
  return signJws(client.key, { alg, kid: `${client.clientId}-key`, typ: 'JWT' }, claims)
}

/** The form members of private_key_jwt authentication. */
export async function authenticationOf(
  client: FapiClient,
  audience: string,
  changes: Parameters<typeof clientAssertion>[2] = {},
): Promise<Record<string, string>> {
  return {
    client_id: client.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(client, audience, changes),
  }
}

/** Our resource server on 127.0.0.1, accepting the tokens of `issuer` (set by `trust`). */
export interface TestResourceServer {
  url: string
  trust(issuer: string): void
  /** GET /items with exactly these header lines (repeats allowed); answers status and challenge. */
  get(headerLines: [string, string][]): Promise<{ status: number; challenge: string | null }>
  close(): Promise<void>
}

/** Starts the resource server (profile algorithms only, no nonces: every iat case is direct). */
export async function startResourceServer(): Promise<TestResourceServer> {
  let handler: ReturnType<typeof protect> | undefined
  const server: Server = createServer((req, res) => {
    if (handler === undefined) {
      res.statusCode = 503
      res.end()
      return
    }
    void handler(req, res)
  })
  const url = (await listen(server)).url
  return {
    url,
    trust(issuer) {
      const resourceServer = createResourceServer({
        publicBaseUrl: url,
        accessTokens: jwtAccessTokens({ issuer, audience: url, jwksUri: `${issuer}/jwks` }),
        algorithms: PROFILE_ALGORITHMS,
      })
      handler = protect(resourceServer, (_req, res, identity) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ subject: identity.subject, jkt: identity.jkt }))
      })
    },
    get: (headerLines) => rawGet(`${url}/items`, headerLines),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function rawGet(
  url: string,
  headerLines: [string, string][],
): Promise<{ status: number; challenge: string | null }> {
  const { request } = await import('node:http')
  return new Promise((resolve, reject) => {
    const headers: IncomingHttpHeaders = {}
    const req = request(url, { method: 'GET' }, (res) => {
      res.resume()
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          challenge: (res.headers['www-authenticate'] as string | undefined) ?? null,
        }),
      )
    })
    req.on('error', reject)
    for (const [name, value] of headerLines) {
      const known = headers[name]
      headers[name] = known === undefined ? value : [...[known].flat(), value]
    }
    for (const [name, value] of Object.entries(headers)) req.setHeader(name, value!)
    req.end()
  })
}

/** What one run of the PAR + login + token flow produced. */
export interface FlowResult {
  par: Answer
  authorization?: URL
  token?: Answer
}

/** How to run the flow: which keys prove at PAR and at the token endpoint, and what to add. */
export interface FlowOptions {
  client: FapiClient
  /** Proves at PAR (left out: no DPoP header at PAR). */
  parProver?: Prover
  parProof?: ProofChanges
  tokenProver?: Prover
  tokenProof?: ProofChanges
  /** Extra or replacing PAR parameters (`undefined` removes one). */
  push?: Record<string, string | undefined>
}

/** Runs PAR (private_key_jwt), the browser step, and the code exchange at one issuer. */
export async function runFlow(issuer: string, options: FlowOptions): Promise<FlowResult> {
  const { verifier, challenge } = pkce()
  const pushed = apply(
    {
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'fapi-state',
    },
    options.push,
  ) as Record<string, string>
  const parUrl = `${issuer}/par`
  const parForm = async () => ({
    ...pushed,
    ...(await authenticationOf(options.client, issuer)),
  })
  const par =
    options.parProver === undefined
      ? await postForm(parUrl, await parForm())
      : await options.parProver.post(parUrl, parForm, options.parProof)
  if (par.status !== 201 || options.tokenProver === undefined) return { par }
  const result = await authorize(issuer, {
    client_id: options.client.clientId,
    request_uri: par.body.request_uri,
  })
  const authorization = result.location
  const code = authorization?.searchParams.get('code')
  if (code === null || code === undefined)
    return { par, ...(authorization ? { authorization } : {}) }
  const tokenUrl = `${issuer}/token`
  const token = await options.tokenProver.post(
    tokenUrl,
    async () => ({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      ...(await authenticationOf(options.client, issuer)),
    }),
    options.tokenProof,
  )
  return { par, authorization: authorization!, token }
}
