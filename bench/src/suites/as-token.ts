/**
 * Authorization server token endpoint over real HTTP on 127.0.0.1: `client_credentials` with
 * `client_secret_basic`, a fresh ES256 DPoP proof per request (pre-signed before each turn,
 * attached by autocannon's `setupRequest`), AS nonces required, RFC 9068 JWT access tokens
 * signed with ES256. Keybound's `keybound-as` binary vs `oidc-provider@9` configured the same
 * way (DPoP on with `nonceSecret` + `requireNonce`, replay detection on, JWT access tokens via
 * resource indicators, ES256). Each server runs in its own child process; its CPU time
 * (user + system of all its threads) is read from `/proc/<pid>/stat` before and after each
 * turn. Turns alternate (A B A B …) and the medians of the rounds are compared.
 *
 * In the same run, Keybound's token exchange (RFC 8693) is measured next to its own
 * client_credentials: the holder of a DPoP-bound access token trades it for a narrower one,
 * with the same per-request proofs and nonces (each proof's key holds the subject token sent
 * with it). Each of the 16 subject tokens is exchanged many times, as a service does that
 * calls several others with the token it received: after the first exchange of a token its
 * checked signature is remembered (its expiry and revocation are checked every time), so the
 * turn measures that repeat exchange, not a first one (one more ES256 verify).
 *
 * The oidc-provider child is this same file, started with `KB_AS_BENCH_CHILD=oidc-provider`.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { openDatabase, type SigningKey } from '@keybound/authorization-server'
import { jwtVerify } from 'jose'
import { verifyAccessTokenJwt } from '../../../packages/authorization-server/dist/jwt/verify-access-token.js'
import { b64u, freePort } from '../lib/http-fixtures.js'
import {
  evaluateTargets,
  loadRows,
  throughputCase,
  type CaseResult,
  type Suite,
  type SuiteContext,
  type ThroughputTurn,
  throughputTurnOf,
} from '../lib/suite.js'

const THIS_FILE = fileURLToPath(import.meta.url)
const KEYBOUND_BIN = fileURLToPath(
  new URL('../../../packages/authorization-server/dist/bin.js', import.meta.url),
)
const CLIENT_ID = 'bench-client'
const CLIENT_SECRET = 'bench-client-secret-0123456789abcdef'
const AUDIENCE = 'https://api.bench.test'
const CONNECTIONS = 32
const BODY = 'grant_type=client_credentials&scope=read'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`
const TICKS_PER_SECOND = 100 // Linux USER_HZ

interface TokenServer {
  readonly name: string
  readonly child: ChildProcess
  readonly port: number
  readonly cleanup: () => void
}

type Turn = ThroughputTurn

/** User + system CPU seconds of a process and all its threads, from /proc. */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

async function waitForToken(port: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/token`, { method: 'POST' })
      await response.arrayBuffer()
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  throw new Error(`token endpoint on port ${port} did not come up`)
}

async function startKeybound(): Promise<TokenServer> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'kb-bench-as-'))
  const configPath = join(dataDir, 'keybound-as.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          grant_types: ['client_credentials', TOKEN_EXCHANGE],
          scope: 'read',
          dpop_bound_access_tokens: true,
        },
      ],
      accessTokens: { lifetime: 300, format: 'jwt', audience: AUDIENCE },
      tokenExchange: { audiences: [AUDIENCE] },
      signing: { alg: 'ES256' },
      storage: { dataDir },
      // One client at full speed is the benchmark, not an attack; oidc-provider has no limit either.
      rateLimits: { enabled: false },
    }),
  )
  // LOG_LEVEL=warn: no per-request log lines (oidc-provider writes none either).
  const child = spawn(
    process.execPath,
    [KEYBOUND_BIN, 'serve', '--config', configPath, '--port', String(port)],
    {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  await waitForToken(port)
  return {
    name: 'keybound authorization-server',
    child,
    port,
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  }
}

async function startOidcProvider(): Promise<TokenServer> {
  const port = await freePort()
  const child = fork(THIS_FILE, [], {
    env: { ...process.env, KB_AS_BENCH_CHILD: 'oidc-provider', KB_AS_BENCH_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  await waitForToken(port)
  return { name: 'oidc-provider@9', child, port, cleanup: () => {} }
}

/** A fresh AS nonce for `url`, from a `use_dpop_nonce` answer (RFC 9449 §8). */
async function fetchNonce(url: string, key: BenchKey): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: BASIC,
      dpop: signProof(key, url, undefined),
    },
    body: BODY,
  })
  await response.arrayBuffer()
  const nonce = response.headers.get('dpop-nonce')
  if (nonce === null) throw new Error(`${url} gave no DPoP-Nonce (status ${response.status})`)
  return nonce
}

interface BenchKey {
  readonly privateKey: KeyObject
  readonly header: string
}

function benchKey(): BenchKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
  const header = b64u(
    Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })),
  )
  return { privateKey, header }
}

function signProof(
  key: BenchKey,
  htu: string,
  nonce: string | undefined,
  iat = Math.floor(Date.now() / 1000),
): string {
  const payload = b64u(
    Buffer.from(
      JSON.stringify({
        jti: b64u(randomBytes(16)),
        htm: 'POST',
        htu,
        iat,
        ...(nonce === undefined ? {} : { nonce }),
      }),
    ),
  )
  const input = `${key.header}.${payload}`
  const signature = sign('sha256', Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${b64u(signature)}`
}

const signAsync = (data: Buffer, key: KeyObject): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, (error, signature) =>
      error ? reject(error) : resolve(signature),
    ),
  )

/** `size` proofs, each with its own `jti`, round-robin over `keys`; signed before the turn. */
async function proofPool(
  url: string,
  keys: readonly BenchKey[],
  nonce: string,
  size: number,
): Promise<string[]> {
  const iat = Math.floor(Date.now() / 1000)
  const pool: string[] = []
  for (let start = 0; start < size; start += 512) {
    const chunk = Array.from({ length: Math.min(512, size - start) }, async (_, offset) => {
      const key = keys[(start + offset) % keys.length]!
      const payload = b64u(
        Buffer.from(
          JSON.stringify({ jti: b64u(randomBytes(16)), htm: 'POST', htu: url, iat, nonce }),
        ),
      )
      const input = `${key.header}.${payload}`
      return `${input}.${b64u(await signAsync(Buffer.from(input), key.privateKey))}`
    })
    pool.push(...(await Promise.all(chunk)))
  }
  return pool
}

/** A client_credentials access token bound to `key`, to be the subject of exchanges. */
async function subjectTokenFor(url: string, key: BenchKey): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: BASIC,
      dpop: signProof(key, url, await fetchNonce(url, key)),
    },
    body: BODY,
  })
  const body = (await response.json()) as { access_token?: string }
  if (response.status !== 200 || body.access_token === undefined)
    throw new Error(`no subject token: ${response.status} ${JSON.stringify(body)}`)
  return body.access_token
}

/** One exchange body per key: each key holds its own subject token (the holder case). */
async function exchangeBodies(url: string, keys: readonly BenchKey[]): Promise<string[]> {
  const bodies: string[] = []
  for (const key of keys) {
    bodies.push(
      new URLSearchParams({
        grant_type: TOKEN_EXCHANGE,
        subject_token: await subjectTokenFor(url, key),
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: AUDIENCE,
        scope: 'read',
      }).toString(),
    )
  }
  return bodies
}

/**
 * One timed turn. With `bodies`, request `i` sends `bodies[i % keys.length]`: the proof pool
 * signs request `i` with `keys[i % keys.length]`, the key that holds that body's subject token.
 */
async function turn(
  server: TokenServer,
  keys: readonly BenchKey[],
  seconds: number,
  poolSize: number,
  bodies?: readonly string[],
): Promise<Turn> {
  const url = `http://127.0.0.1:${server.port}/token`
  const pool = await proofPool(url, keys, await fetchNonce(url, keys[0]!), poolSize)
  let next = 0
  const before = cpuSecondsOf(server.child.pid!)
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/token',
        body: BODY,
        setupRequest: (request) => {
          const index = next++ % pool.length
          request.headers = {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: BASIC,
            dpop: pool[index]!,
          }
          if (bodies !== undefined) request.body = bodies[index % keys.length]!
          return request
        },
      },
    ],
  })
  return throughputTurnOf(result, cpuSecondsOf(server.child.pid!) - before)
}

/** One check outside the timed turns: both servers issue a DPoP-bound ES256 JWT. */
async function checkServer(server: TokenServer, key: BenchKey): Promise<void> {
  const url = `http://127.0.0.1:${server.port}/token`
  const nonce = await fetchNonce(url, key)
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: BASIC,
      dpop: signProof(key, url, nonce),
    },
    body: BODY,
  })
  const body = (await response.json()) as { token_type?: string; access_token?: string }
  const header = JSON.parse(
    Buffer.from(body.access_token?.split('.')[0] ?? '', 'base64url').toString() || '{}',
  ) as { alg?: string }
  if (response.status !== 200 || body.token_type !== 'DPoP' || header.alg !== 'ES256') {
    throw new Error(
      `${server.name} is not configured comparably: ${response.status} ${JSON.stringify(body)}`,
    )
  }
}

/** One check outside the timed turns: an exchange answers 200 with a token bound to the key. */
async function checkExchange(server: TokenServer, key: BenchKey, body: string): Promise<void> {
  const url = `http://127.0.0.1:${server.port}/token`
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: BASIC,
      dpop: signProof(key, url, await fetchNonce(url, key)),
    },
    body,
  })
  const answer = (await response.json()) as { token_type?: string; issued_token_type?: string }
  if (response.status !== 200 || answer.token_type !== 'DPoP' || !answer.issued_token_type)
    throw new Error(`token exchange does not work: ${response.status} ${JSON.stringify(answer)}`)
}

/** The token-exchange workload is a row of its own next to Keybound's client_credentials. */
interface Workload {
  readonly name: string
}

export const asToken: Suite = {
  name: 'as-token',
  description: `token endpoint, client_credentials + client_secret_basic, fresh ES256 DPoP proof per request, nonces on, JWT access tokens, ${CONNECTIONS} connections (autocannon); token exchange next to client_credentials; then the authorization-code exchange, plain vs FAPI 2.0 profile`,
  async run(context) {
    const seconds = context.quick ? 1 : 5
    const rounds = context.quick ? 2 : 3
    const keys = Array.from({ length: 16 }, benchKey)
    const servers: TokenServer[] = []
    try {
      servers.push(await startKeybound(), await startOidcProvider())
      for (const server of servers) await checkServer(server, keys[0]!)
      const keyboundUrl = `http://127.0.0.1:${servers[0]!.port}/token`
      const bodies = await exchangeBodies(keyboundUrl, keys)
      await checkExchange(servers[0]!, keys[0]!, bodies[0]!)
      const plainGrant: Workload = { name: 'keybound client_credentials' }
      const exchangeGrant: Workload = { name: 'keybound token exchange' }
      const grantTurns = new Map<Workload, Turn[]>([
        [plainGrant, []],
        [exchangeGrant, []],
      ])
      let fastest = 5_000
      const poolSize = (turnSeconds: number) => Math.ceil(fastest * turnSeconds * 1.5) + 1000
      context.log('  warm-up: 1 s per server')
      for (const server of servers)
        fastest = Math.max(fastest, (await turn(server, keys, 1, poolSize(1))).rps)
      const turns = new Map<TokenServer, Turn[]>(servers.map((server) => [server, []]))
      for (let round = 0; round < rounds; round++) {
        context.log(`  round ${round + 1}/${rounds}: ${servers.length} servers × ${seconds} s`)
        for (const server of servers) {
          const result = await turn(server, keys, seconds, poolSize(seconds))
          fastest = Math.max(fastest, result.rps)
          turns.get(server)!.push(result)
        }
        context.log(`  round ${round + 1}/${rounds}: keybound token exchange × ${seconds} s`)
        const exchanged = await turn(servers[0]!, keys, seconds, poolSize(seconds), bodies)
        grantTurns.get(plainGrant)!.push(turns.get(servers[0]!)!.at(-1)!)
        grantTurns.get(exchangeGrant)!.push(exchanged)
      }
      const [keybound, oidc] = servers as [TokenServer, TokenServer]
      const rps = loadRows([oidc, keybound], turns, (each) => each.rps)
      const cpu = loadRows([oidc, keybound], turns, (each) => each.perCpuSecond)
      const grants = [plainGrant, exchangeGrant]
      const grantRps = loadRows(grants, grantTurns, (each) => each.rps)
      const grantCpu = loadRows(grants, grantTurns, (each) => each.perCpuSecond)
      const cases: CaseResult[] = [
        {
          name: 'token endpoint (client_credentials + DPoP): tokens/s',
          unit: 'req/s',
          higherIsBetter: true,
          baseline: oidc.name,
          rows: rps,
          targets: evaluateTargets(rps, [
            { contender: keybound.name, baseline: oidc.name, min: 2 },
          ]),
        },
        {
          name: 'token endpoint (client_credentials + DPoP): tokens per server CPU-second',
          unit: 'req/CPU-s',
          higherIsBetter: true,
          baseline: oidc.name,
          rows: cpu,
          targets: [],
        },
        {
          name: 'token exchange (RFC 8693, holder, DPoP) next to client_credentials: tokens/s',
          unit: 'req/s',
          higherIsBetter: true,
          baseline: plainGrant.name,
          rows: grantRps,
          targets: evaluateTargets(grantRps, [
            { contender: exchangeGrant.name, baseline: plainGrant.name, min: 0.8 },
          ]),
        },
        {
          name: 'token exchange next to client_credentials: tokens per server CPU-second',
          unit: 'req/CPU-s',
          higherIsBetter: true,
          baseline: plainGrant.name,
          rows: grantCpu,
          targets: [],
        },
      ]
      for (const server of servers) server.child.kill()
      cases.push(...(await codeFlowCases(context, keys, seconds, rounds)))
      return cases
    } finally {
      for (const server of servers) {
        server.child.kill()
        server.cleanup()
      }
    }
  },
}

// The authorization-code token request, plain and under the FAPI 2.0 profile (issue 21), in one
// Keybound child with two clients: `bench-code` (client_secret_basic) and `bench-fapi`
// (`profile: fapi2`, private_key_jwt with ES256). Both send a fresh DPoP proof with the AS nonce
// and a PKCE verifier; the FAPI request also carries a fresh client assertion (its signature is
// checked and its jti recorded), and runs the profile's proof checks. A code is single-use and
// a real one costs a sign-in (scrypt), so the codes are written to the server's database before
// each turn, as /authorize would write them; what is timed is the token request alone.

const CODE_CLIENT = 'bench-code'
const FAPI_CLIENT = 'bench-fapi'
const CODE_REDIRECT = 'https://client.bench.test/cb'
const CODE_VERIFIER = 'bench-code-verifier-0123456789-0123456789-abcdef'
const CODE_CHALLENGE = b64u(createHash('sha256').update(CODE_VERIFIER).digest())

interface CodeFlowServer extends TokenServer {
  readonly dataDir: string
  readonly assertionKey: KeyObject
}

/** A contender of the code-flow cases: which client, and how it authenticates. */
interface CodeFlowContender {
  readonly name: string
  readonly clientId: string
  /** Headers and extra body of one request; `index` picks pre-signed material. */
  readonly authenticate: (index: number) => { header?: string; body: string }
  prepare(url: string, size: number): Promise<void>
}

async function startCodeFlowServer(): Promise<CodeFlowServer> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'kb-bench-as-code-'))
  const configPath = join(dataDir, 'keybound-as.json')
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  writeFileSync(
    configPath,
    JSON.stringify({
      clients: [
        {
          client_id: CODE_CLIENT,
          client_secret: CLIENT_SECRET,
          redirect_uris: [CODE_REDIRECT],
          grant_types: ['authorization_code'],
          scope: 'read',
          dpop_bound_access_tokens: true,
        },
        {
          client_id: FAPI_CLIENT,
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'fapi-1', alg: 'ES256' }] },
          redirect_uris: [CODE_REDIRECT],
          grant_types: ['authorization_code'],
          scope: 'read',
          profile: 'fapi2',
        },
      ],
      accessTokens: { lifetime: 300, format: 'jwt', audience: AUDIENCE },
      signing: { alg: 'ES256' },
      storage: { dataDir },
      rateLimits: { enabled: false },
    }),
  )
  const child = spawn(
    process.execPath,
    [KEYBOUND_BIN, 'serve', '--config', configPath, '--port', String(port)],
    { env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  await waitForToken(port)
  return {
    name: 'keybound authorization-server (codes)',
    child,
    port,
    dataDir,
    assertionKey: privateKey,
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  }
}

/** Writes `count` fresh codes of `clientId` (60 s, the profile's longest) and returns them. */
async function seedCodes(dataDir: string, clientId: string, count: number): Promise<string[]> {
  const { db } = await openDatabase({ dataDir })
  try {
    const now = Math.floor(Date.now() / 1000)
    const codes = Array.from({ length: count }, () => b64u(randomBytes(32)))
    await db.transaction().execute(async (trx) => {
      for (let start = 0; start < codes.length; start += 200) {
        const chunk = codes
          .slice(start, start + 200)
          .map((code) => ({ code, grant: b64u(randomBytes(16)) }))
        await trx
          .insertInto('kb_grants')
          .values(
            chunk.map(({ grant }) => ({
              grant_id: grant,
              client_id: clientId,
              subject: 'bench-user',
              scope: 'read',
              created_at: now,
              revoked_at: null,
            })),
          )
          .execute()
        await trx
          .insertInto('kb_authorization_codes')
          .values(
            chunk.map(({ code, grant }) => ({
              code_hash: createHash('sha256').update(code).digest('base64url'),
              client_id: clientId,
              grant_id: grant,
              subject: 'bench-user',
              redirect_uri: CODE_REDIRECT,
              scope: 'read',
              code_challenge: CODE_CHALLENGE,
              dpop_jkt: null,
              resource: null,
              expires_at: now + 60,
              consumed_at: null,
            })),
          )
          .execute()
      }
    })
    return codes
  } finally {
    await db.destroy()
  }
}

/** `size` private_key_jwt assertions (RFC 7523 §2.2), each with its own jti. */
async function assertionPool(key: KeyObject, audience: string, size: number): Promise<string[]> {
  const header = b64u(Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'fapi-1', typ: 'JWT' })))
  const iat = Math.floor(Date.now() / 1000)
  const pool: string[] = []
  for (let start = 0; start < size; start += 512) {
    const chunk = Array.from({ length: Math.min(512, size - start) }, async () => {
      const claims = {
        iss: FAPI_CLIENT,
        sub: FAPI_CLIENT,
        aud: audience,
        jti: b64u(randomBytes(16)),
        iat,
        exp: iat + 120,
      }
      const input = `${header}.${b64u(Buffer.from(JSON.stringify(claims)))}`
      return `${input}.${b64u(await signAsync(Buffer.from(input), key))}`
    })
    pool.push(...(await Promise.all(chunk)))
  }
  return pool
}

async function codeTurn(
  server: CodeFlowServer,
  contender: CodeFlowContender,
  keys: readonly BenchKey[],
  seconds: number,
  poolSize: number,
): Promise<Turn> {
  const url = `http://127.0.0.1:${server.port}/token`
  const codes = await seedCodes(server.dataDir, contender.clientId, poolSize)
  await contender.prepare(`http://127.0.0.1:${server.port}`, poolSize)
  const proofs = await proofPool(url, keys, await fetchNonce(url, keys[0]!), poolSize)
  let next = 0
  const before = cpuSecondsOf(server.child.pid!)
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/token',
        setupRequest: (request) => {
          const index = next++ % poolSize
          const auth = contender.authenticate(index)
          request.headers = {
            'content-type': 'application/x-www-form-urlencoded',
            ...(auth.header === undefined ? {} : { authorization: auth.header }),
            dpop: proofs[index]!,
          }
          request.body = `grant_type=authorization_code&code=${codes[index]}&code_verifier=${CODE_VERIFIER}&redirect_uri=${encodeURIComponent(CODE_REDIRECT)}${auth.body}`
          return request
        },
      },
    ],
  })
  return throughputTurnOf(result, cpuSecondsOf(server.child.pid!) - before)
}

function codeFlowContenders(server: CodeFlowServer): [CodeFlowContender, CodeFlowContender] {
  let assertions: string[] = []
  return [
    {
      name: 'authorization_code (client_secret_basic + DPoP + PKCE)',
      clientId: CODE_CLIENT,
      authenticate: () => ({
        header: `Basic ${Buffer.from(`${CODE_CLIENT}:${CLIENT_SECRET}`).toString('base64')}`,
        body: '',
      }),
      prepare: async () => {},
    },
    {
      name: 'FAPI 2.0 authorization_code (private_key_jwt + DPoP + PKCE)',
      clientId: FAPI_CLIENT,
      authenticate: (index) => ({
        body: `&client_id=${FAPI_CLIENT}&client_assertion_type=${encodeURIComponent('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')}&client_assertion=${assertions[index]}`,
      }),
      prepare: async (issuer, size) => {
        assertions = await assertionPool(server.assertionKey, issuer, size)
      },
    },
  ]
}

/** The plain and the FAPI 2.0 code exchange side by side, tokens/s and p99 latency. */
async function codeFlowCases(
  context: Parameters<Suite['run']>[0],
  keys: readonly BenchKey[],
  seconds: number,
  rounds: number,
): Promise<CaseResult[]> {
  const server = await startCodeFlowServer()
  try {
    const contenders = codeFlowContenders(server)
    const [plain, fapi] = contenders
    // The AS answers a code exchange in a few ms on one core; 3,000/s leaves room on fast machines.
    const poolSize = Math.ceil(3_000 * seconds * 1.2) + 500
    context.log('  code flow warm-up: 1 s per contender')
    for (const contender of contenders) await codeTurn(server, contender, keys, 1, 4_000)
    const turns = new Map<CodeFlowContender, Turn[]>(contenders.map((each) => [each, []]))
    for (let round = 0; round < rounds; round++) {
      context.log(`  code flow round ${round + 1}/${rounds}: 2 contenders × ${seconds} s`)
      for (const contender of contenders)
        turns.get(contender)!.push(await codeTurn(server, contender, keys, seconds, poolSize))
    }
    const rps = loadRows([plain, fapi], turns, (each) => each.rps)
    const p99 = loadRows([plain, fapi], turns, (each) => each.p99)
    return [
      {
        name: 'token endpoint (authorization_code): FAPI 2.0 profile vs plain, tokens/s',
        unit: 'req/s',
        higherIsBetter: true,
        baseline: plain.name,
        rows: rps,
        // One more ES256 verification and a jti write per request: at least 0.7x of plain.
        targets: evaluateTargets(rps, [{ contender: fapi.name, baseline: plain.name, min: 0.7 }]),
      },
      {
        name: 'token endpoint (authorization_code): FAPI 2.0 profile vs plain, p99 latency',
        unit: 'ms',
        higherIsBetter: false,
        baseline: plain.name,
        rows: p99,
        // The same extra work may cost at most half again the plain p99.
        targets: evaluateTargets(p99, [{ contender: fapi.name, baseline: plain.name, max: 1.5 }]),
      },
    ]
  } finally {
    server.child.kill()
    server.cleanup()
  }
}

/** The oidc-provider child: the same client, DPoP with required nonces, ES256 JWT access tokens. */
async function runOidcProviderChild(port: number): Promise<void> {
  const moduleName = 'oidc-provider'
  const { default: Provider } = (await import(moduleName)) as {
    default: new (
      issuer: string,
      config: unknown,
    ) => { listen(port: number, host: string): unknown }
  }
  const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    format: 'jwk',
  })
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        dpop_bound_access_tokens: true,
        // Only an ES256 key is configured, as for Keybound.
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: 'bench-es256', alg: 'ES256', use: 'sig' }] },
    scopes: ['read'],
    enabledJWA: { dPoPSigningAlgValues: ['ES256'] },
    features: {
      clientCredentials: { enabled: true },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'read',
          audience: AUDIENCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  })
  provider.listen(port, '127.0.0.1')
  process.on('disconnect', () => process.exit(0))
}

// The access-token verifier of the authorization server (introspection, revocation, token
// exchange) against `jose`'s jwtVerify on the same tokens, in this process. The verifier is not
// a public export, so it is read from the package's build output (the binary above is too).
const PRIVATE_VERIFIER = 'keybound verifyAccessTokenJwt'
const JOSE_VERIFY = 'jose jwtVerify'
const VERIFY_ISSUER = 'https://as.bench.test'
const VERIFY_TOKENS = 256

/** A signing key of the AS's shape and `count` RFC 9068 tokens it signed, as signJwt writes them. */
function accessTokens(alg: 'ES256' | 'EdDSA', count: number) {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519')
  const key: SigningKey = {
    kid: `bench-${alg}`,
    alg,
    privateKey: pair.privateKey,
    hsmLabel: undefined,
    publicJwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
  }
  const header = b64u(Buffer.from(JSON.stringify({ alg, typ: 'at+jwt', kid: key.kid })))
  const iat = Math.floor(Date.now() / 1000)
  const tokens = Array.from({ length: count }, () => {
    const claims = {
      iss: VERIFY_ISSUER,
      sub: 'bench-client',
      aud: AUDIENCE,
      client_id: 'bench-client',
      iat,
      exp: iat + 3600,
      jti: b64u(randomBytes(16)),
      scope: 'read',
      cnf: { jkt: b64u(randomBytes(32)) },
    }
    const input = `${header}.${b64u(Buffer.from(JSON.stringify(claims)))}`
    const signature =
      alg === 'ES256'
        ? sign('sha256', Buffer.from(input), { key: pair.privateKey, dsaEncoding: 'ieee-p1363' })
        : sign(null, Buffer.from(input), pair.privateKey)
    return `${input}.${b64u(signature)}`
  })
  return { key, publicKey: pair.publicKey, tokens }
}

async function verifierCase(context: SuiteContext, alg: 'ES256' | 'EdDSA'): Promise<CaseResult> {
  const { key, publicKey, tokens } = accessTokens(alg, VERIFY_TOKENS)
  const keys = [key]
  // jose gets the same cached public key, looked up by kid, and the same checks: typ, alg,
  // issuer, expiry (no clock tolerance, as the AS allows none for its own tokens).
  const joseKey = (header: { kid?: string }) => {
    if (header.kid !== key.kid) throw new Error('unknown kid')
    return publicKey
  }
  const joseOptions = { issuer: VERIFY_ISSUER, typ: 'at+jwt', algorithms: [alg] }
  let next = 0
  const pick = () => tokens[next++ % tokens.length]!
  for (const token of tokens) {
    const now = Math.floor(Date.now() / 1000)
    if (verifyAccessTokenJwt(token, { keys, issuer: VERIFY_ISSUER, now }) === undefined)
      throw new Error('the private verifier refused a bench token')
    await jwtVerify(token, joseKey, joseOptions)
  }
  return throughputCase(
    context,
    `${alg} access token (RFC 9068) verified`,
    JOSE_VERIFY,
    [
      {
        name: PRIVATE_VERIFIER,
        op: () =>
          verifyAccessTokenJwt(pick(), {
            keys,
            issuer: VERIFY_ISSUER,
            now: Math.floor(Date.now() / 1000),
          }),
      },
      { name: JOSE_VERIFY, op: () => jwtVerify(pick(), joseKey, joseOptions) },
    ],
    // ADR 0044: the private verifier stays only while it is at least as fast as jose.
    [{ contender: PRIVATE_VERIFIER, baseline: JOSE_VERIFY, min: 1.0 }],
  )
}

/**
 * `as-jwt-verify`: the authorization server's own access-token verifier next to `jose`'s
 * `jwtVerify`, ES256 and EdDSA, same tokens, one core. The measurement behind ADR 0044.
 */
export const asJwtVerify: Suite = {
  name: 'as-jwt-verify',
  description: `the AS's access-token verifier vs jose jwtVerify, same ${VERIFY_TOKENS} tokens, ES256 and EdDSA`,
  async run(context) {
    return [await verifierCase(context, 'ES256'), await verifierCase(context, 'EdDSA')]
  },
}

if (process.env.KB_AS_BENCH_CHILD === 'oidc-provider') {
  await runOidcProviderChild(Number(process.env.KB_AS_BENCH_PORT))
}
