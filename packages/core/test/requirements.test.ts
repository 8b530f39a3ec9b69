/**
 * Requirements A, B and F of docs/requirements.md (RFC 9449 §4, §4.3, §11), one test per requirement that concerns proofs. Left out: F6
 * (a configuration lint of the AS) and F14 (descriptive, nothing to check in a proof). Where a
 * requirement is about HTTP, the test covers the part core owns and says so in its name.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { backends, type CoreModule } from './support/backends.js'
import {
  ACCESS_TOKEN,
  ATH,
  b64u,
  compact,
  fromB64u,
  handProof,
  hmacB64u,
  newJti,
  proofClaims,
  proofHeader,
  RS_REQUEST,
  RS_URL,
  sha256b64u,
  testKey,
  type TestKey,
} from './support/jws.js'

const NOW = 1_760_000_000
const NOW_MS = NOW * 1000
const SECRET = 'requirements-test-nonce-secret-0123456789'
const TOKEN_REQUEST = { method: 'POST', url: 'https://server.example.com/token' }

const es = testKey('ES256')
const es2 = testKey('ES256')
const ed = testKey('EdDSA')
const rsa = testKey('RS256')

type KeyPair = Awaited<ReturnType<CoreModule['generateKeyPair']>>
type Verified = Awaited<ReturnType<CoreModule['verifyProof']>>

const claimsOf = (proof: string) =>
  JSON.parse(fromB64u(proof.split('.')[1]!).toString('utf8')) as Record<string, unknown>
const headerOf = (proof: string) =>
  JSON.parse(fromB64u(proof.split('.')[0]!).toString('utf8')) as Record<string, unknown>

describe.each(backends)('RFC 9449 requirements ($name backend)', ({ name, core }) => {
  let key: KeyPair
  let otherKey: KeyPair
  const pinned = { replayStore: false as const, now: () => NOW_MS }
  const verify = (
    proof: string,
    request: { method: string; url: string | URL } = RS_REQUEST,
    options: Record<string, unknown> = {},
  ) => core.verifyProof(proof, request, { ...pinned, ...options })
  const make = (
    options: Partial<Parameters<CoreModule['createProof']>[1]> = {},
    k: KeyPair = key,
  ) => core.createProof(k, { htm: 'GET', htu: RS_URL, iat: NOW, ...options })
  const rejects = (promise: Promise<Verified>, expected: Record<string, unknown>) =>
    expect(promise).rejects.toMatchObject(expected)

  beforeAll(async () => {
    key = await core.generateKeyPair('ES256')
    otherKey = await core.generateKeyPair('ES256')
  })

  describe('§2.A proof syntax', () => {
    it('A1 — 1,000 consecutive proofs have 1,000 distinct jtis and are distinct proofs', async () => {
      const proofs = await Promise.all(
        Array.from({ length: 1000 }, () => core.createProof(key, { htm: 'GET', htu: RS_URL })),
      )
      expect(new Set(proofs).size).toBe(1000)
      expect(new Set(proofs.map((p) => claimsOf(p).jti)).size).toBe(1000)
    })

    it('A2 — (core part: the field value) a value with an embedded space or comma is rejected as malformed', async () => {
      const proof = await make()
      await expect(verify(proof)).resolves.toBeDefined()
      await rejects(verify(`${proof}, ${await make()}`), { code: 'ERR_DPOP_PROOF_MALFORMED' })
      await rejects(verify(`${proof},${await make()}`), { code: 'ERR_DPOP_PROOF_MALFORMED' })
      await rejects(verify(proof.replace('.', ' .')), { code: 'ERR_DPOP_PROOF_MALFORMED' })
    })

    it.each(['typ', 'alg', 'jwk'])('A3 — header without %s is rejected', async (member) => {
      await rejects(verify(handProof(es, NOW, {}, { [member]: undefined })), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: member,
      })
    })

    it('A4 — typ JWT, at+jwt, dpop+jwt+wrongyousee or absent is rejected; application/dpop+jwt and DPOP+JWT are accepted (D1)', async () => {
      for (const typ of ['JWT', 'at+jwt', 'dpop+jwt+wrongyousee', undefined]) {
        await rejects(verify(handProof(es, NOW, {}, { typ })), {
          code: 'ERR_DPOP_HEADER_INVALID',
          claim: 'typ',
        })
      }
      for (const typ of ['application/dpop+jwt', 'DPOP+JWT']) {
        await expect(verify(handProof(es, NOW, {}, { typ }))).resolves.toMatchObject({
          header: { typ },
        })
      }
    })

    it('A5 — alg none and HS256/384/512 are rejected; ES256, PS256, RS256, EdDSA proofs from createProof are accepted', async () => {
      await rejects(
        verify(
          `${b64u(JSON.stringify(proofHeader(es, { alg: 'none' })))}.${b64u(JSON.stringify(proofClaims(NOW)))}.`,
        ),
        {
          code: 'ERR_DPOP_HEADER_INVALID',
          claim: 'alg',
        },
      )
      for (const [alg, hash] of [
        ['HS256', 'sha256'],
        ['HS384', 'sha384'],
        ['HS512', 'sha512'],
      ] as const) {
        const proof = compact(proofHeader(es, { alg }), proofClaims(NOW), (input) =>
          hmacB64u(hash, JSON.stringify(es.publicJwk), input),
        )
        await rejects(verify(proof), { code: 'ERR_DPOP_HEADER_INVALID', claim: 'alg' })
      }
      for (const alg of ['ES256', 'PS256', 'RS256', 'EdDSA'] as const) {
        const k = await core.generateKeyPair(alg)
        await expect(verify(await make({}, k))).resolves.toMatchObject({
          header: { alg },
          jkt: k.jkt,
        })
      }
    })

    it('A6 — a jwk with a private key (EC d, OKP d, each RSA private member, oct k) is rejected', async () => {
      const variants: Array<[TestKey, Record<string, unknown>]> = [
        [es, { ...es.publicJwk, d: es.privateJwk.d }],
        [ed, { ...ed.publicJwk, d: ed.privateJwk.d }],
        ...['d', 'p', 'q', 'dp', 'dq', 'qi'].map((m): [TestKey, Record<string, unknown>] => [
          rsa,
          { ...rsa.publicJwk, [m]: rsa.privateJwk[m] },
        ]),
        [rsa, { ...rsa.publicJwk, oth: [{ r: 'AQAB', d: 'AQAB', t: 'AQAB' }] }],
        [es, { kty: 'oct', k: b64u('0123456789abcdef0123456789abcdef') }],
      ]
      for (const [signer, jwk] of variants) {
        await rejects(verify(handProof(signer, NOW, {}, { jwk })), {
          code: 'ERR_DPOP_HEADER_INVALID',
          claim: 'jwk',
        })
      }
    })

    it.each(['jti', 'htm', 'htu', 'iat'])('A7 — payload without %s is rejected', async (claim) => {
      await rejects(verify(handProof(es, NOW, { [claim]: undefined })), {
        code: 'ERR_DPOP_CLAIM_INVALID',
        claim,
        reason: 'missing',
      })
    })

    it('A8 — each jti is base64url of 16 random bytes; no duplicates over 100,000 proofs', async () => {
      // Only jti generation is under test here, so a signer that returns a fixed 64-byte value
      // keeps 10^5 proofs cheap; real signatures are covered everywhere else.
      const signer = {
        alg: 'ES256' as const,
        publicJwk: key.publicJwk,
        sign: () => new Uint8Array(64),
      }
      const seen = new Set<string>()
      for (let i = 0; i < 100_000; i++) {
        const proof = await core.createProof(signer, { htm: 'GET', htu: RS_URL })
        const payload = proof.slice(proof.indexOf('.') + 1, proof.lastIndexOf('.'))
        seen.add((JSON.parse(Buffer.from(payload, 'base64url').toString()) as { jti: string }).jti)
      }
      expect(seen.size).toBe(100_000)
      for (const jti of [...seen].slice(0, 1000)) {
        expect(jti).toMatch(/^[A-Za-z0-9_-]{22}$/)
        expect(fromB64u(jti)).toHaveLength(16)
      }
    }, 60_000)

    it('A9 — a POST proof carries "htm":"POST" exactly; the method is case-sensitive', async () => {
      const proof = await make({ htm: 'POST', htu: 'https://server.example.com/token' })
      expect(claimsOf(proof).htm).toBe('POST')
      await expect(verify(proof, TOKEN_REQUEST)).resolves.toBeDefined()
      const lower = await make({ htm: 'post', htu: 'https://server.example.com/token' })
      expect(claimsOf(lower).htm).toBe('post')
      await rejects(verify(lower, TOKEN_REQUEST), { code: 'ERR_DPOP_CLAIM_MISMATCH', claim: 'htm' })
      await expect(make({ htm: 'GE T' })).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID_ARGUMENT',
      })
    })

    it('A10 — htu is the target URI without query and fragment', async () => {
      expect(claimsOf(await make({ htu: 'https://rs.example/x?y=1#f' })).htu).toBe(
        'https://rs.example/x',
      )
      expect(claimsOf(await make({ htu: new URL('https://rs.example/x#f') })).htu).toBe(
        'https://rs.example/x',
      )
      expect(claimsOf(await make({ htu: 'https://rs.example/x#f?y' })).htu).toBe(
        'https://rs.example/x',
      )
    })

    it('A11 — iat is the creation time: |iat − now| ≤ 1 s', async () => {
      const before = Math.floor(Date.now() / 1000)
      const proof = await core.createProof(key, { htm: 'GET', htu: RS_URL })
      const after = Date.now() / 1000
      // Whole seconds, taken while the proof was made: within 1 s of now, never in the future.
      expect(claimsOf(proof).iat as number).toBeGreaterThanOrEqual(before)
      expect(claimsOf(proof).iat as number).toBeLessThanOrEqual(after)
      expect(Number.isInteger(claimsOf(proof).iat)).toBe(true)
    })

    it('A12 — ath = base64url(SHA-256(access token)) → fUHyO2r2… for the RFC token', async () => {
      const proof = await make({ accessToken: ACCESS_TOKEN })
      expect(claimsOf(proof).ath).toBe(ATH)
      expect(claimsOf(proof).ath).toBe(sha256b64u(ACCESS_TOKEN))
      await expect(verify(proof, RS_REQUEST, { accessToken: ACCESS_TOKEN })).resolves.toBeDefined()
    })

    it('A13 — after a DPoP-Nonce, the next proof carries "nonce" with that exact value', async () => {
      const nonces = core.createNonceSource({ secret: SECRET, now: () => NOW_MS })
      const nonce = await nonces.issueNonce()
      const proof = await make({ nonce })
      expect(claimsOf(proof).nonce).toBe(nonce)
      await expect(verify(proof, RS_REQUEST, { nonce: nonces })).resolves.toBeDefined()
    })

    it('A14 — extra header parameter foo and claim tx are accepted (and cannot override DPoP members)', async () => {
      const proof = await make({
        header: { foo: 'bar', typ: 'JWT', alg: 'none' },
        claims: { tx: 42, htm: 'POST', htu: 'https://evil.example/' },
      })
      expect(headerOf(proof)).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', foo: 'bar' })
      expect(claimsOf(proof)).toMatchObject({ htm: 'GET', htu: RS_URL, tx: 42 })
      await expect(verify(proof)).resolves.toMatchObject({
        header: { foo: 'bar' },
        claims: { tx: 42 },
      })
      await expect(verify(handProof(es, NOW, { tx: 'abc' }, { foo: 'bar' }))).resolves.toBeDefined()
    })

    it('A15 — documented limitation: only method and URI are covered; the same proof with another body is accepted', async () => {
      const proof = await make({ htm: 'POST', htu: 'https://server.example.com/token' })
      // A request-like object with a body: core looks at method and url only (RFC 9449 §11.7).
      const withBody = (body: string) => ({ ...TOKEN_REQUEST, body }) as typeof TOKEN_REQUEST
      await expect(verify(proof, withBody('grant_type=client_credentials'))).resolves.toBeDefined()
      await expect(
        verify(proof, withBody('grant_type=refresh_token&refresh_token=stolen')),
      ).resolves.toBeDefined()
    })
  })

  describe('§2.B proof validation (§4.3)', () => {
    it('B1 — (core part: the combined field value) "DPoP: <jwt1>, <jwt2>" is rejected as malformed', async () => {
      const [a, b] = [await make(), await make()]
      await rejects(verify(`${a}, ${b}`), { code: 'ERR_DPOP_PROOF_MALFORMED' })
      await rejects(verify(`${a},${a}`), { code: 'ERR_DPOP_PROOF_MALFORMED' })
    })

    it('B2 — not a JWT, 2/4/5 segments, JWS JSON serialization or an empty value is rejected as malformed', async () => {
      const proof = await make()
      const [h, p, s] = proof.split('.')
      for (const value of [
        'not a jwt',
        `${h}.${p}`,
        `${proof}.${s}`,
        `${proof}.${s}.${s}`,
        JSON.stringify({ protected: h, payload: p, signature: s }),
        '',
      ]) {
        await rejects(verify(value), { code: 'ERR_DPOP_PROOF_MALFORMED' })
      }
      await rejects(core.verifyProof(undefined as unknown as string, RS_REQUEST, pinned), {
        code: 'ERR_DPOP_PROOF_MALFORMED',
      })
    })

    it('B3 — required claims: jti/htm/htu/iat, ath at the RS, nonce when one was issued', async () => {
      for (const claim of ['jti', 'htm', 'htu', 'iat']) {
        await rejects(verify(handProof(es, NOW, { [claim]: undefined })), {
          code: 'ERR_DPOP_CLAIM_INVALID',
          claim,
        })
      }
      await rejects(verify(await make(), RS_REQUEST, { accessToken: ACCESS_TOKEN }), {
        code: 'ERR_DPOP_CLAIM_INVALID',
        claim: 'ath',
      })
      const nonces = core.createNonceSource({ secret: SECRET, now: () => NOW_MS })
      await rejects(verify(await make(), RS_REQUEST, { nonce: nonces }), {
        code: 'ERR_DPOP_NONCE_REQUIRED',
        claim: 'nonce',
      })
    })

    it('B4 — typ JWT is rejected', async () => {
      await rejects(verify(handProof(es, NOW, {}, { typ: 'JWT' })), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: 'typ',
      })
    })

    it('B5 — none, HS256, XS256, ES256K and an alg outside the allow-list (dpop_signing_alg_values_supported) are rejected', async () => {
      for (const alg of ['none', 'HS256', 'XS256', 'ES256K']) {
        await rejects(verify(handProof(es, NOW, {}, { alg })), {
          code: 'ERR_DPOP_HEADER_INVALID',
          claim: 'alg',
        })
      }
      const edKey = await core.generateKeyPair('EdDSA')
      await rejects(verify(await make({}, edKey), RS_REQUEST, { algorithms: ['ES256', 'PS256'] }), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: 'alg',
        reason: 'not allowed',
      })
      await expect(
        verify(await make(), RS_REQUEST, { algorithms: ['ES256', 'PS256'] }),
      ).resolves.toBeDefined()
      expect(
        core.SUPPORTED_ALGORITHMS.some((alg: string) => alg === 'none' || alg.startsWith('HS')),
      ).toBe(false)
    })

    it('B6 — one signature byte flipped is rejected; the key comes only from jwk (kid/jku/x5u/x5c ignored)', async () => {
      const [h, p, s] = (await make()).split('.')
      const sig = fromB64u(s!)
      sig[0]! ^= 0x80
      await rejects(verify(`${h}.${p}.${b64u(sig)}`), { code: 'ERR_DPOP_SIGNATURE_INVALID' })
      // Signed by es, jwk is es2: whatever the other members point to, the proof must fail.
      for (const extra of [
        { kid: 'es' },
        { jku: 'https://attacker.example/jwks' },
        { x5u: 'https://attacker.example/c.pem' },
        { x5c: ['MIIB'] },
      ]) {
        await rejects(
          verify(compact(proofHeader(es, { jwk: es2.publicJwk, ...extra }), proofClaims(NOW), es)),
          { code: 'ERR_DPOP_SIGNATURE_INVALID' },
        )
      }
    })

    it('B7 — a jwk with d is rejected even though the signature verifies with that key', async () => {
      const proof = handProof(es, NOW, {}, { jwk: { ...es.publicJwk, d: es.privateJwk.d } })
      await rejects(verify(proof), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: 'jwk',
        reason: 'contains a private key',
      })
    })

    it('B8 — htm POST on a GET and htm get on a GET are rejected', async () => {
      await rejects(verify(await make({ htm: 'POST' })), {
        code: 'ERR_DPOP_CLAIM_MISMATCH',
        claim: 'htm',
      })
      await rejects(verify(await make({ htm: 'get' })), {
        code: 'ERR_DPOP_CLAIM_MISMATCH',
        claim: 'htm',
      })
    })

    it('B9 — htu of another host, path, scheme or port is rejected', async () => {
      for (const htu of [
        'https://other.example.org/protectedresource',
        'https://resource.example.org/other',
        'https://resource.example.org:444/protectedresource',
      ]) {
        await rejects(verify(await make({ htu })), {
          code: 'ERR_DPOP_CLAIM_MISMATCH',
          claim: 'htu',
        })
      }
      await rejects(
        verify(await make({ htu: 'http://resource.example.org/protectedresource' }), RS_REQUEST, {
          allowInsecureHttp: true,
        }),
        {
          code: 'ERR_DPOP_CLAIM_MISMATCH',
          claim: 'htu',
        },
      )
    })

    it('B10 — (core part: the check; the server adds the fresh DPoP-Nonce) a wrong or stale nonce → NonceRequired', async () => {
      const nonces = core.createNonceSource({ secret: SECRET, now: () => NOW_MS })
      const good = await nonces.issueNonce()
      const stale = await core
        .createNonceSource({ secret: SECRET, now: () => NOW_MS - 180_000 })
        .issueNonce()
      const wrong = `${good.slice(0, -2)}${good.endsWith('AA') ? 'BB' : 'AA'}`
      for (const nonce of [wrong, stale]) {
        await rejects(verify(await make({ nonce }), RS_REQUEST, { nonce: nonces }), {
          code: 'ERR_DPOP_NONCE_REQUIRED',
          claim: 'nonce',
        })
      }
      await expect(
        verify(await make({ nonce: good }), RS_REQUEST, { nonce: nonces }),
      ).resolves.toBeDefined()
    })

    it('B11 — iat now ± 3600 is rejected; now − 10 and now + 8 are accepted', async () => {
      for (const iat of [NOW - 3600, NOW + 3600]) {
        await rejects(verify(await make({ iat })), {
          code: 'ERR_DPOP_IAT_OUT_OF_WINDOW',
          claim: 'iat',
        })
      }
      for (const iat of [NOW - 10, NOW + 8])
        await expect(verify(await make({ iat }))).resolves.toBeDefined()
    })

    it('B12 — ath of another token → ath mismatch; a key other than cnf.jkt → KeyBindingMismatch', async () => {
      await rejects(
        verify(await make({ accessToken: 'another-token' }), RS_REQUEST, {
          accessToken: ACCESS_TOKEN,
        }),
        {
          code: 'ERR_DPOP_CLAIM_MISMATCH',
          claim: 'ath',
        },
      )
      await rejects(
        verify(await make({ accessToken: ACCESS_TOKEN }, otherKey), RS_REQUEST, {
          accessToken: ACCESS_TOKEN,
          expectedJkt: key.jkt,
        }),
        {
          code: 'ERR_DPOP_KEY_BINDING_MISMATCH',
        },
      )
      await expect(
        verify(await make({ accessToken: ACCESS_TOKEN }), RS_REQUEST, {
          accessToken: ACCESS_TOKEN,
          expectedJkt: key.jkt,
        }),
      ).resolves.toBeDefined()
    })

    it('B13 — upper-case scheme/host, :443 and /%70rotectedresource are accepted; /ProtectedResource and :8443 are rejected', async () => {
      for (const htu of [
        'HTTPS://RESOURCE.EXAMPLE.ORG/protectedresource',
        'https://resource.example.org:443/protectedresource',
        'https://resource.example.org/%70rotectedresource',
      ]) {
        await expect(verify(await make({ htu }))).resolves.toBeDefined()
      }
      for (const htu of [
        'https://resource.example.org/ProtectedResource',
        'https://resource.example.org:8443/protectedresource',
      ]) {
        await rejects(verify(await make({ htu })), {
          code: 'ERR_DPOP_CLAIM_MISMATCH',
          claim: 'htu',
        })
      }
    })

    it('B14 — with several failing checks the proof is rejected with one of the matching codes (order not assumed)', async () => {
      const proof = handProof(es, NOW - 3600, { htm: 'PUT', htu: 'https://other.example/' })
      const error = await verify(proof).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(core.DPoPError)
      expect(['ERR_DPOP_CLAIM_MISMATCH', 'ERR_DPOP_IAT_OUT_OF_WINDOW']).toContain(
        (error as { code: string }).code,
      )
    })

    it('B15 — the same valid proof twice: first accepted, second rejected as a replay', async () => {
      const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
      const proof = await make()
      await expect(verify(proof, RS_REQUEST, { replayStore })).resolves.toBeDefined()
      await rejects(verify(proof, RS_REQUEST, { replayStore }), {
        code: 'ERR_DPOP_REPLAYED',
        claim: 'jti',
      })
    })

    it('B16 — RFC 3986 §6.2.2/6.2.3 normalization, applied to both htu and the server URL', async () => {
      const n = core.normalizeHtu
      expect(n('HTTPS://Resource.Example.ORG/p')).toBe('https://resource.example.org/p')
      expect(n('https://rs.example/a%2fb%3f%23')).toBe('https://rs.example/a%2Fb%3F%23')
      expect(n('https://rs.example/%7Euser/%41%2D%5F%2E')).toBe('https://rs.example/~user/A-_.')
      expect(n('https://rs.example/a/./b/../c')).toBe('https://rs.example/a/c')
      expect(n('https://rs.example:443/x')).toBe('https://rs.example/x')
      expect(n('http://rs.example:80/x')).toBe('http://rs.example/x')
      expect(n('https://rs.example:/x')).toBe('https://rs.example/x')
      expect(n('https://rs.example')).toBe('https://rs.example/')
      expect(n('https://rs.example/x?q=1#f')).toBe('https://rs.example/x')
      expect(n('https://rs.example:8443/x')).toBe('https://rs.example:8443/x')
      // The server side goes through the same function: a configured URL in odd spelling still matches.
      const proof = await make({ htu: RS_URL })
      await expect(
        verify(proof, {
          method: 'GET',
          url: 'HTTPS://resource.example.org:443/%70rotectedresource?x=1',
        }),
      ).resolves.toBeDefined()
    })
  })

  describe('§2.F security considerations', () => {
    it('F1 — window boundary: iat = now − 60 is accepted, now − 61 is rejected (maxAge 60)', async () => {
      await expect(verify(await make({ iat: NOW - 60 }))).resolves.toBeDefined()
      await rejects(verify(await make({ iat: NOW - 61 })), {
        code: 'ERR_DPOP_IAT_OUT_OF_WINDOW',
        claim: 'iat',
        reason: 'stale',
      })
      // and the window is configurable
      await expect(
        verify(await make({ iat: NOW - 300 }), RS_REQUEST, { maxAge: 300 }),
      ).resolves.toBeDefined()
    })

    it('F2 — a proof accepted by one replica is refused by another sharing the store (here: the other backend)', async () => {
      const other = backends.find((b) => b.name !== name)!.core
      const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
      const proof = await make()
      await expect(verify(proof, RS_REQUEST, { replayStore })).resolves.toBeDefined()
      await rejects(other.verifyProof(proof, RS_REQUEST, { ...pinned, replayStore }), {
        code: 'ERR_DPOP_REPLAYED',
      })
      // Without shared state a second replica cannot know: this is why the store must be shared.
      await expect(
        other.verifyProof(proof, RS_REQUEST, {
          ...pinned,
          replayStore: new other.MemoryReplayStore(),
        }),
      ).resolves.toBeDefined()
    })

    it('F3 — a 16 KiB jti is rejected (the proof exceeds 8 KiB); over the jti limit even when longer proofs are allowed', async () => {
      const big = 'j'.repeat(16 * 1024)
      await rejects(verify(await make({ jti: big })), { code: 'ERR_DPOP_PROOF_MALFORMED' })
      await rejects(verify(await make({ jti: big }), RS_REQUEST, { maxProofLength: 64 * 1024 }), {
        code: 'ERR_DPOP_CLAIM_INVALID',
        claim: 'jti',
        reason: 'too long',
      })
    })

    it('F4 — iat + 8 s is accepted, iat + 1 h is rejected', async () => {
      await expect(verify(await make({ iat: NOW + 8 }))).resolves.toBeDefined()
      await rejects(verify(await make({ iat: NOW + 3600 })), {
        code: 'ERR_DPOP_IAT_OUT_OF_WINDOW',
        claim: 'iat',
        reason: 'future',
      })
    })

    it('F5 — the same nonce with three different jtis is accepted three times', async () => {
      const nonces = core.createNonceSource({ secret: SECRET, now: () => NOW_MS })
      const replayStore = new core.MemoryReplayStore({ now: () => NOW_MS })
      const nonce = await nonces.issueNonce()
      for (let i = 0; i < 3; i++)
        await expect(
          verify(await make({ nonce }), RS_REQUEST, { nonce: nonces, replayStore }),
        ).resolves.toBeDefined()
    })

    it('F7 — once nonces are required, a proof without nonce is refused (no downgrade)', async () => {
      const nonces = core.createNonceSource({ secret: SECRET, now: () => NOW_MS })
      await rejects(verify(await make(), RS_REQUEST, { nonce: nonces }), {
        code: 'ERR_DPOP_NONCE_REQUIRED',
        reason: 'missing',
      })
      await rejects(verify(await make({ nonce: '' }), RS_REQUEST, { nonce: nonces }), {
        code: 'ERR_DPOP_NONCE_REQUIRED',
      })
    })

    it('F8 — a proof pre-generated with iat + 1 day is refused now, and refused later when nonces are on', async () => {
      const later = NOW + 86_400
      const proof = await make({ iat: later })
      await rejects(verify(proof), { code: 'ERR_DPOP_IAT_OUT_OF_WINDOW', reason: 'future' })
      const nonces = core.createNonceSource({ secret: SECRET, now: () => later * 1000 })
      await rejects(verify(proof, RS_REQUEST, { now: () => later * 1000, nonce: nonces }), {
        code: 'ERR_DPOP_NONCE_REQUIRED',
      })
    })

    it('F9 — an ID token, a client assertion and a JAR object signed by the same key with a jwk header fail the typ check', async () => {
      const idToken = compact(
        { alg: 'ES256', typ: 'JWT', jwk: es.publicJwk },
        {
          iss: 'https://as.example',
          sub: 'u',
          aud: 'c',
          iat: NOW,
          exp: NOW + 60,
          jti: newJti(),
          htm: 'GET',
          htu: RS_URL,
        },
        es,
      )
      const assertion = compact(
        { alg: 'ES256', jwk: es.publicJwk },
        {
          iss: 'c',
          sub: 'c',
          aud: RS_URL,
          iat: NOW,
          exp: NOW + 60,
          jti: newJti(),
          htm: 'GET',
          htu: RS_URL,
        },
        es,
      )
      const jar = compact(
        { alg: 'ES256', typ: 'oauth-authz-req+jwt', jwk: es.publicJwk },
        { ...proofClaims(NOW), client_id: 'c' },
        es,
      )
      for (const jwt of [idToken, assertion, jar])
        await rejects(verify(jwt), { code: 'ERR_DPOP_HEADER_INVALID', claim: 'typ' })
    })

    it('F10 — none and HS256 are rejected; RSA keys under 2048 bits are rejected and cannot be generated', async () => {
      await rejects(verify(handProof(es, NOW, {}, { alg: 'none' })), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: 'alg',
      })
      await rejects(verify(handProof(es, NOW, {}, { alg: 'HS256' })), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: 'alg',
      })
      await rejects(verify(handProof(testKey('RS256', 1024), NOW)), {
        code: 'ERR_DPOP_HEADER_INVALID',
        claim: 'jwk',
      })
      await expect(core.generateKeyPair('RS256', { modulusLength: 1024 })).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID_ARGUMENT',
      })
    })

    it('F11 — (= A15) body and headers are not covered: a proof verifies for any body', async () => {
      const proof = await make({ htm: 'PUT' })
      const put = (body: string) =>
        ({
          method: 'PUT',
          url: RS_URL,
          body,
          headers: { 'content-type': body },
        }) as unknown as typeof RS_REQUEST
      await expect(verify(proof, put('a'))).resolves.toBeDefined()
      await expect(verify(proof, put('b'))).resolves.toBeDefined()
    })

    it('F12 — SHA-256 only: a 64-char (SHA-384) ath or jkt does not match', async () => {
      const ath384 = b64u(Buffer.alloc(48, 1))
      await rejects(
        verify(handProof(es, NOW, { ath: ath384 }), RS_REQUEST, { accessToken: ACCESS_TOKEN }),
        { code: 'ERR_DPOP_CLAIM_MISMATCH', claim: 'ath' },
      )
      await rejects(
        verify(await make(), RS_REQUEST, { expectedJkt: `${key.jkt}${key.jkt.slice(0, 21)}` }),
        { code: 'ERR_DPOP_KEY_BINDING_MISMATCH' },
      )
      expect(key.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(await core.calculateAth(ACCESS_TOKEN)).toHaveLength(43)
    })

    it('F13 — (core part of dpop_jkt) a proof by K2 does not satisfy a binding to thumbprint(K1)', async () => {
      const k1jkt = await core.calculateJwkThumbprint(key.publicJwk)
      expect(k1jkt).toBe(key.jkt)
      await rejects(
        verify(await make({ htm: 'POST', htu: TOKEN_REQUEST.url }, otherKey), TOKEN_REQUEST, {
          expectedJkt: k1jkt,
        }),
        { code: 'ERR_DPOP_KEY_BINDING_MISMATCH' },
      )
      await expect(
        verify(await make({ htm: 'POST', htu: TOKEN_REQUEST.url }), TOKEN_REQUEST, {
          expectedJkt: k1jkt,
        }),
      ).resolves.toBeDefined()
    })

    it('F15 — HTTPS only: http htu on a non-loopback host is rejected unless insecure http is allowed; loopback is allowed', async () => {
      const insecure = { method: 'GET', url: 'http://resource.example.org/protectedresource' }
      const proof = await make({ htu: insecure.url })
      await rejects(verify(proof, insecure), {
        code: 'ERR_DPOP_CLAIM_INVALID',
        claim: 'htu',
        reason: 'insecure scheme',
      })
      await expect(verify(proof, insecure, { allowInsecureHttp: true })).resolves.toBeDefined()
      for (const url of [
        'http://localhost:3000/x',
        'http://127.0.0.1/x',
        'http://[::1]:8080/x',
        'http://api.localhost/x',
      ]) {
        await expect(
          verify(await make({ htu: url }), { method: 'GET', url }),
        ).resolves.toBeDefined()
      }
      await expect(make({ htu: 'ftp://resource.example.org/x' })).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID_ARGUMENT',
        claim: 'htu',
      })
    })
  })
})
