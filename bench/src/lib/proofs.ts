/**
 * Test material for the proof suites, built with bare `node:crypto` so that no contender
 * prepares its own input: client keys, their thumbprints and access tokens, and pools of
 * distinct valid DPoP proofs (fresh `jti` each) signed on the thread pool before timing starts.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generatePrime,
  randomBytes,
  sign,
  type KeyObject,
  type SignKeyObjectInput,
} from 'node:crypto'
import { promisify } from 'node:util'

export type BenchAlg = 'ES256' | 'EdDSA' | 'PS256'

export interface BenchKey {
  readonly alg: BenchAlg
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** Public JWK with only the RFC 7638 members, as a proof header carries it. */
  readonly jwk: Record<string, string>
  /** RFC 7638 thumbprint (the `cnf.jkt` of this client's access token). */
  readonly jkt: string
  /** An opaque access token bound to this key, and its `ath`. */
  readonly accessToken: string
  readonly ath: string
}

export interface PooledProof {
  readonly proof: string
  /** JWS signing input and signature, pre-split for the signature-only baselines. */
  readonly data: Buffer
  readonly signature: Buffer
  /** Index of the key in the key list. */
  readonly key: number
}

/** Same request shape everywhere: a resource-server call with an access token. */
export const REQUEST = { method: 'POST', url: 'https://rs.example.com/api/v1/orders' } as const

const generateKeyPairAsync = promisify(generateKeyPair)
const generatePrimeAsync = (bits: number): Promise<bigint> =>
  new Promise((resolve, reject) =>
    generatePrime(bits, { bigint: true }, (error, prime) =>
      error ? reject(error) : resolve(prime),
    ),
  )
const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
const sha256b64u = (text: string): string => createHash('sha256').update(text).digest('base64url')

/** `node:crypto` sign/verify parameters of an algorithm. */
export function nodeParams(alg: BenchAlg): {
  hash: string | null
  options: Omit<SignKeyObjectInput, 'key'>
} {
  if (alg === 'ES256') return { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } }
  if (alg === 'PS256') {
    return { hash: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } }
  }
  return { hash: null, options: {} }
}

function publicJwkOf(alg: BenchAlg, publicKey: KeyObject): Record<string, string> {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>
  if (alg === 'PS256') return { kty: 'RSA', n: jwk.n!, e: jwk.e! }
  if (alg === 'ES256') return { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y! }
  return { kty: 'OKP', crv: jwk.crv!, x: jwk.x! }
}

/** RFC 7638: required members in lexicographic order, no whitespace. */
function thumbprint(jwk: Record<string, string>): string {
  const members =
    jwk.kty === 'RSA'
      ? ['e', 'kty', 'n']
      : jwk.kty === 'EC'
        ? ['crv', 'kty', 'x', 'y']
        : ['crv', 'kty', 'x']
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`
  return sha256b64u(canonical)
}

function describe(alg: BenchAlg, privateKey: KeyObject, publicKey: KeyObject): BenchKey {
  const jwk = publicJwkOf(alg, publicKey)
  const accessToken = b64u(randomBytes(32))
  return {
    alg,
    privateKey,
    publicKey,
    jwk,
    jkt: thumbprint(jwk),
    accessToken,
    ath: sha256b64u(accessToken),
  }
}

// --- RSA keys from shared primes --------------------------------------------------------------
// A 2048-bit RSA key takes ~150 ms to generate here, so 1,000 of them would take minutes. A
// verifier only ever sees (n, e), and the cost of a signature check depends on the modulus size
// only, so the thousand keys are built from pairs of ~46 random 1024-bit primes: 1,000 distinct
// 2048-bit moduli in about a second. (Keys that share primes are of course useless outside a
// benchmark.)

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const q = oldR / r
    ;[oldR, r] = [r, oldR - q * r]
    ;[oldS, s] = [s, oldS - q * s]
  }
  if (oldR !== 1n) throw new Error('not invertible')
  return ((oldS % m) + m) % m
}

function bigintB64u(value: bigint): string {
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  return Buffer.from(hex, 'hex').toString('base64url')
}

async function rsaKeysFromPrimes(count: number): Promise<KeyObject[]> {
  const e = 65537n
  let primeCount = 2
  while ((primeCount * (primeCount - 1)) / 2 < count) primeCount++
  const primes: bigint[] = []
  while (primes.length < primeCount) {
    const batch = await Promise.all(
      Array.from({ length: primeCount - primes.length }, () => generatePrimeAsync(1024)),
    )
    for (const p of batch) if ((p - 1n) % e !== 0n && !primes.includes(p)) primes.push(p)
  }
  const keys: KeyObject[] = []
  for (let i = 0; i < primes.length && keys.length < count; i++) {
    for (let j = i + 1; j < primes.length && keys.length < count; j++) {
      const [p, q] = primes[i]! > primes[j]! ? [primes[i]!, primes[j]!] : [primes[j]!, primes[i]!]
      const n = p * q
      if (n.toString(2).length !== 2048) continue
      const d = modInverse(e, (p - 1n) * (q - 1n))
      const jwk = {
        kty: 'RSA',
        n: bigintB64u(n),
        e: bigintB64u(e),
        d: bigintB64u(d),
        p: bigintB64u(p),
        q: bigintB64u(q),
        dp: bigintB64u(d % (p - 1n)),
        dq: bigintB64u(d % (q - 1n)),
        qi: bigintB64u(modInverse(q, p)),
      }
      keys.push(createPrivateKey({ key: jwk, format: 'jwk' }))
    }
  }
  if (keys.length < count) throw new Error('not enough 2048-bit moduli')
  return keys
}

/** `count` distinct client keys of one algorithm. */
export async function generateKeys(alg: BenchAlg, count: number): Promise<BenchKey[]> {
  if (alg === 'PS256') {
    const privateKeys = await rsaKeysFromPrimes(count)
    return privateKeys.map((privateKey) => describe(alg, privateKey, createPublicKey(privateKey)))
  }
  const keys: BenchKey[] = []
  for (let i = 0; i < count; i++) {
    const pair =
      alg === 'ES256'
        ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
        : await generateKeyPairAsync('ed25519')
    keys.push(describe(alg, pair.privateKey, pair.publicKey))
  }
  return keys
}

const signAsync = (hash: string | null, data: Buffer, key: SignKeyObjectInput): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    sign(hash, data, key, (error, signature) => (error ? reject(error) : resolve(signature))),
  )

const encodeJson = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * `size` distinct proofs for `REQUEST`, issued at `iatSeconds`, round-robin over `keys` (proof
 * `i` is signed by key `i % keys.length`), each with its own random 128-bit `jti`.
 */
export async function generateProofPool(
  keys: readonly BenchKey[],
  size: number,
  iatSeconds: number,
): Promise<PooledProof[]> {
  const alg = keys[0]!.alg
  const { hash, options } = nodeParams(alg)
  const headers = keys.map((key) => encodeJson({ typ: 'dpop+jwt', alg, jwk: key.jwk }))
  const pool: PooledProof[] = []
  const CHUNK = 256
  for (let start = 0; start < size; start += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, size - start) }, async (_, offset) => {
      const index = start + offset
      const keyIndex = index % keys.length
      const key = keys[keyIndex]!
      const payload = encodeJson({
        jti: b64u(randomBytes(16)),
        htm: REQUEST.method,
        htu: REQUEST.url,
        iat: iatSeconds,
        ath: key.ath,
      })
      const input = `${headers[keyIndex]}.${payload}`
      const data = Buffer.from(input, 'latin1')
      const signature = await signAsync(hash, data, { key: key.privateKey, ...options })
      return {
        proof: `${input}.${signature.toString('base64url')}`,
        data,
        signature,
        key: keyIndex,
      }
    })
    pool.push(...(await Promise.all(chunk)))
  }
  return pool
}

/** A client of the HTTP suites: its key, the access token bound to it, and that token's `ath`. */
export interface BoundClient {
  readonly key: BenchKey
  readonly token: string
  readonly ath: string
}

/**
 * `size` request header sets for `GET htu`, one fresh ES256 proof each (distinct `jti`, the
 * client's `ath`), round-robin over the clients; signed on the thread pool, before timing.
 */
export async function dpopRequestPool(
  htu: string,
  clients: readonly BoundClient[],
  size: number,
): Promise<Record<string, string>[]> {
  const { hash, options } = nodeParams('ES256')
  const headers = clients.map((client) =>
    encodeJson({ typ: 'dpop+jwt', alg: 'ES256', jwk: client.key.jwk }),
  )
  const iat = Math.floor(Date.now() / 1000)
  const pool: Record<string, string>[] = []
  const CHUNK = 512
  for (let start = 0; start < size; start += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, size - start) }, async (_, offset) => {
      const index = (start + offset) % clients.length
      const client = clients[index]!
      const payload = encodeJson({
        jti: b64u(randomBytes(16)),
        htm: 'GET',
        htu,
        iat,
        ath: client.ath,
      })
      const input = `${headers[index]}.${payload}`
      const signature = await signAsync(hash, Buffer.from(input, 'latin1'), {
        key: client.key.privateKey,
        ...options,
      })
      return { authorization: `DPoP ${client.token}`, dpop: `${input}.${b64u(signature)}` }
    })
    pool.push(...(await Promise.all(chunk)))
  }
  return pool
}
