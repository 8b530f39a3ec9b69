/**
 * Test support: real servers on 127.0.0.1 (port 0) over SQLite (temp dir) or PostgreSQL
 * (`DATABASE_URL`, one schema per server), DPoP keys and proofs from @keybound/core, an HTTP
 * client built on fetch, and the scripted browser login.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createProof, generateKeyPair, type DPoPKeyPair } from '@keybound/core'
import { scratchSchema } from '@keybound/test-kit/postgres'
import {
  clientSigningKey,
  PASSWORD,
  REDIRECT,
  SECRET,
  testClients,
} from '@keybound/test-kit/as-clients'
import { createAuthorizationServer, hashPassword, type AuthorizationServer } from '../src/index.js'

export type DatabaseKind = 'sqlite' | 'postgres'
export const DATABASES: DatabaseKind[] = ['sqlite', 'postgres']

// What the interop suites register too: one list, in the test kit.
export { clientSigningKey, PASSWORD, REDIRECT, SECRET, testClients as baseClients }

// The lowest cost the server accepts, and the servers hash at it too (passwords.scryptLogN): a
// sign-in then costs one 16 MiB scrypt run, not a 128 MiB one.
const passwordHash = hashPassword(PASSWORD, { N: 2 ** 14, r: 8, p: 1 })

/** A server config document for tests; `storage` is filled in by {@link startServer}. */
export async function baseConfig(
  overrides: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  return {
    clients: testClients(),
    users: [{ username: 'alice', passwordHash: await passwordHash, subject: 'user-alice' }],
    registration: {
      initialAccessToken: 'initial-access-token-0123456789',
      // What the suites register (the defaults refuse both; registration-policy.test.ts).
      allowedScopes: ['read'],
      allowClientCredentials: true,
    },
    // Metrics on their own loopback listener (any free port), as a deployment would run them.
    metrics: { port: 0 },
    passwords: { scryptLogN: 14 },
    ...overrides,
  }
}

/** Storage settings for one fresh database of `kind`; `cleanup` removes it. */
export async function freshStorage(kind: DatabaseKind): Promise<{
  storage: Record<string, string>
  env: Record<string, string>
  cleanup(): Promise<void>
}> {
  if (kind === 'sqlite') {
    const dataDir = await mkdtemp(join(tmpdir(), 'kb-as-'))
    return {
      storage: { dataDir },
      env: { KEYBOUND_DATA_DIR: dataDir },
      cleanup: () => rm(dataDir, { recursive: true, force: true }),
    }
  }
  const { databaseUrl, schema, drop } = scratchSchema(
    'the PostgreSQL run of the authorization-server suite',
  )
  return {
    storage: { databaseUrl, schema, dataDir: tmpdir() },
    env: { DATABASE_URL: databaseUrl, KEYBOUND_DB_SCHEMA: schema },
    cleanup: drop,
  }
}

/** A running test server. */
export interface TestServer {
  server: AuthorizationServer
  issuer: string
  url(path: string): string
  close(): Promise<void>
}

/** Starts a server on 127.0.0.1:0 over a fresh database of `kind`. */
export async function startServer(
  kind: DatabaseKind,
  overrides: Record<string, unknown> = {},
  options: { now?: () => number; logger?: unknown } = {},
): Promise<TestServer> {
  const { storage, cleanup } = await freshStorage(kind)
  const config = { ...(await baseConfig(overrides)), storage }
  const server = await createAuthorizationServer(config, {
    logger: (options.logger ?? false) as never,
    env: {},
    ...(options.now === undefined ? {} : { now: options.now }),
  })
  const issuer = await server.listen()
  return {
    server,
    issuer,
    url: (path) => `${issuer}${path}`,
    close: async () => {
      await server.close()
      await cleanup()
    },
  }
}

/** An HTTP answer with its JSON body (when there is one). */
export interface Answer {
  status: number
  headers: Headers
  body: any
  text: string
}

/** POSTs a form with optional headers; never follows redirects. */
export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  })
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: response.status, headers: response.headers, body, text }
}

/** HTTP Basic credentials of a client (RFC 6749 §2.3.1). */
export function basic(clientId: string, secret = SECRET): Record<string, string> {
  return {
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
  }
}

/** A DPoP key with the last nonce each server gave it. */
export class Dpop {
  nonce: string | undefined
  private constructor(readonly key: DPoPKeyPair) {}

  static async create(alg: 'ES256' | 'PS256' | 'EdDSA' | 'ES384' = 'ES256'): Promise<Dpop> {
    return new Dpop(await generateKeyPair(alg))
  }

  get jkt(): string {
    return this.key.jkt
  }

  /** A fresh proof for POST `url`, with the current nonce unless told otherwise. */
  proof(
    url: string,
    extra: { nonce?: string | null; iat?: number; jti?: string; htm?: string } = {},
  ): Promise<string> {
    const nonce = extra.nonce === null ? undefined : (extra.nonce ?? this.nonce)
    return createProof(this.key, {
      htm: extra.htm ?? 'POST',
      htu: url,
      ...(nonce === undefined ? {} : { nonce }),
      ...(extra.iat === undefined ? {} : { iat: extra.iat }),
      ...(extra.jti === undefined ? {} : { jti: extra.jti }),
    })
  }

  /** POSTs with a fresh proof; on `use_dpop_nonce` stores the nonce and retries once (RFC 9449 §8). */
  async post(
    url: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    let answer = await postForm(url, form, { ...headers, dpop: await this.proof(url) })
    if (answer.status === 400 && answer.body?.error === 'use_dpop_nonce') {
      this.nonce = answer.headers.get('dpop-nonce') ?? undefined
      answer = await postForm(url, form, { ...headers, dpop: await this.proof(url) })
    }
    const rotated = answer.headers.get('dpop-nonce')
    if (rotated !== null) this.nonce = rotated
    return answer
  }
}

/** PKCE pair (RFC 7636 S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** Decodes the payload of a JWT without checking it. */
export function decodeJwt(token: string): { header: any; payload: any } {
  const [header, payload] = token.split('.') as [string, string]
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()),
  }
}

/** What the browser ends up with after the authorization step. */
export interface AuthorizationResult {
  status: number
  location?: URL
  code?: string
  page?: string
}

function cookieOf(headers: Headers): string | undefined {
  const setCookie = headers.get('set-cookie')
  return setCookie === null ? undefined : setCookie.split(';')[0]
}

function hiddenInteraction(html: string): string {
  const match = /name="interaction" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error('no interaction in page')
  return match[1]!
}

/**
 * Plays the browser: GET /authorize, sign in, allow on the consent page when one is shown,
 * and return the redirect (code, state, iss) or the page where it stopped.
 */
export async function authorize(
  issuer: string,
  query: Record<string, string>,
  options: { password?: string; decision?: 'allow' | 'deny' } = {},
): Promise<AuthorizationResult> {
  const start = await fetch(`${issuer}/authorize?${new URLSearchParams(query)}`, {
    redirect: 'manual',
  })
  if (start.status !== 200) {
    const location = start.headers.get('location')
    return {
      status: start.status,
      ...(location === null ? {} : { location: new URL(location) }),
      page: await start.text(),
    }
  }
  const cookie = cookieOf(start.headers) ?? ''
  const login = await postForm(
    `${issuer}/authorize/login`,
    {
      interaction: hiddenInteraction(await start.text()),
      username: 'alice',
      password: options.password ?? PASSWORD,
    },
    { cookie },
  )
  let final = login
  if (login.status === 200 && login.text.includes('Allow access')) {
    final = await postForm(
      `${issuer}/authorize/consent`,
      { interaction: hiddenInteraction(login.text), decision: options.decision ?? 'allow' },
      { cookie },
    )
  }
  const location = final.headers.get('location')
  if (location === null) return { status: final.status, page: final.text }
  const url = new URL(location)
  return {
    status: final.status,
    location: url,
    ...(url.searchParams.get('code') === null ? {} : { code: url.searchParams.get('code')! }),
  }
}

/** Runs the authorization step for a public client and returns code + verifier. */
export async function getCode(
  issuer: string,
  clientId: string,
  extra: Record<string, string> = {},
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce()
  const result = await authorize(issuer, {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'xyz',
    ...extra,
  })
  if (result.code === undefined)
    throw new Error(`no code: ${result.status} ${result.location ?? result.page}`)
  return { code: result.code, verifier }
}

/** A code exchange form for `clientId`. */
export function codeForm(clientId: string, code: string, verifier: string): Record<string, string> {
  return {
    grant_type: 'authorization_code',
    client_id: clientId,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
  }
}

/** An ES256 key for hand-made (possibly broken) proofs. */
export const rawKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
export const rawJwk = rawKey.publicKey.export({ format: 'jwk' }) as Record<string, string>

/** Signs any header and payload with {@link rawKey} (ES256), for hostile-input tests. */
export async function signRaw(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const { sign } = await import('node:crypto')
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const signature = sign('sha256', Buffer.from(input), {
    key: rawKey.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${signature.toString('base64url')}`
}

/** A valid hand-made proof body for POST `url`. */
export function proofClaims(url: string, nonce?: string): Record<string, unknown> {
  return {
    jti: randomBytes(16).toString('base64url'),
    htm: 'POST',
    htu: url,
    iat: Math.floor(Date.now() / 1000),
    ...(nonce === undefined ? {} : { nonce }),
  }
}

/** A fresh AS nonce, obtained the way a client does: from a `use_dpop_nonce` answer. */
export async function fetchNonce(url: string): Promise<string> {
  const dpop = await Dpop.create()
  const answer = await postForm(
    url,
    { grant_type: 'client_credentials' },
    { ...basic('service'), dpop: await dpop.proof(url, { nonce: null }) },
  )
  const nonce = answer.headers.get('dpop-nonce')
  if (nonce === null) throw new Error(`no nonce: ${answer.status} ${answer.text}`)
  return nonce
}

/** POST with raw header lines (repeated names allowed), returning the raw response header lines. */
export async function rawPost(
  url: string,
  body: string,
  headerLines: [string, string][],
): Promise<{ status: number; rawHeaders: string[]; body: any }> {
  const { request } = await import('node:http')
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        resolve({
          status: res.statusCode!,
          rawHeaders: res.rawHeaders,
          body: text === '' ? undefined : JSON.parse(text),
        })
      })
    })
    req.on('error', reject)
    req.setHeader('content-type', 'application/x-www-form-urlencoded')
    const grouped = new Map<string, string[]>()
    for (const [name, value] of headerLines)
      grouped.set(name, [...(grouped.get(name) ?? []), value])
    for (const [name, values] of grouped)
      req.setHeader(name, values.length === 1 ? values[0]! : values)
    req.end(body)
  })
}

/** Values of a response header among raw header lines (case-insensitive name). */
export function headerValues(rawHeaders: string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!)
  return values
}

/** Pushes an authorization request for `clientId`; returns the answer and the PKCE verifier. */
export async function pushRequest(
  url: string,
  clientId: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
  dpop?: Dpop,
): Promise<{ answer: Answer; verifier: string }> {
  const { verifier, challenge } = pkce()
  const form = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope: 'read',
    ...extra,
  }
  const answer =
    dpop === undefined ? await postForm(url, form, headers) : await dpop.post(url, form, headers)
  return { answer, verifier }
}

/** Completes the browser step of a pushed request; returns the code. */
export async function codeFromPushed(
  issuer: string,
  clientId: string,
  requestUri: string,
): Promise<string> {
  const result = await authorize(issuer, { client_id: clientId, request_uri: requestUri })
  if (result.code === undefined)
    throw new Error(`no code: ${result.status} ${result.location ?? result.page}`)
  return result.code
}
