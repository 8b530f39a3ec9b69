/**
 * The PKCS#11 signer against a real SoftHSM2: keys created on the token, proofs verified by
 * core, jose and oidc-provider, concurrent signing through the session pool, and the failures
 * (wrong PIN, missing module, missing key, token removed while signing) with their codes.
 */
import { createRequire } from 'node:module'
import { clientSecretBasic, createTokenClient, discover } from '@keybound/client'
import { createProof, generateKeyPair, MemoryReplayStore, verifyProof } from '@keybound/core'
import { EmbeddedJWK, calculateJwkThumbprint, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  openPkcs11Signer,
  Pkcs11KeyNotFound,
  Pkcs11KeyRejected,
  Pkcs11ModuleUnavailable,
  Pkcs11PinInvalid,
  Pkcs11TokenUnavailable,
  Pkcs11UriInvalid,
  parsePkcs11Uri,
  type Pkcs11Signer,
} from '../src/index.js'
import {
  CLIENT_SECRET,
  startAuthorizationServer,
  type TestAuthorizationServer,
} from '@keybound/test-kit/oidc-provider'
import { SOFTHSM_MODULE, startSoftHsm, type SoftHsm } from '@keybound/test-kit/softhsm'

const PIN_ENV = 'KEYBOUND_TEST_HSM_PIN'
const PIN = '4711-test'
const HTU = 'https://api.example.com/things'
const RESOURCE = 'https://rs.pkcs11.test'
let hsm: SoftHsm
let peer: TestAuthorizationServer
const signers: Pkcs11Signer[] = []

function uri(token: string, object: string, extra = ''): string {
  return `pkcs11:token=${token};object=${object}?module-path=${SOFTHSM_MODULE}&pin-source=env:${PIN_ENV}${extra}`
}

async function open(token: string, object: string, options: object = {}): Promise<Pkcs11Signer> {
  const signer = await openPkcs11Signer({ uri: uri(token, object), create: true, ...options })
  signers.push(signer)
  return signer
}

async function verifiedByCore(signer: Pkcs11Signer): Promise<void> {
  const proof = await createProof(signer, { htm: 'GET', htu: HTU })
  const verified = await verifyProof(
    proof,
    { method: 'GET', url: HTU },
    { replayStore: new MemoryReplayStore() },
  )
  expect(verified.jkt).toBe(signer.jkt)
}

beforeAll(async () => {
  hsm = startSoftHsm()
  hsm.initTokens(['proofs', 'removable', 'locked-out'], PIN)
  process.env[PIN_ENV] = PIN
  peer = await startAuthorizationServer({
    resource: RESOURCE,
    assertionJwk: (await generateKeyPair('ES256')).publicJwk,
    dpopAlgs: ['ES256', 'PS256', 'RS256', 'EdDSA'],
  })
})

afterAll(async () => {
  for (const signer of signers) await signer.close()
  await peer?.close()
  hsm?.cleanup()
})

describe('proofs from keys on the token', () => {
  for (const alg of ['ES256', 'PS256', 'RS256', 'EdDSA'] as const) {
    it(`${alg}: verified by core, by jose and by oidc-provider`, async () => {
      const signer = await open('proofs', `agent-${alg}`, { alg, rsaBits: 2048 })
      expect(signer.alg).toBe(alg)
      expect(signer.jkt).toBe(await calculateJwkThumbprint(signer.publicJwk))
      await verifiedByCore(signer)

      const proof = await createProof(signer, { htm: 'POST', htu: HTU })
      const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [alg],
      })
      expect(protectedHeader.alg).toBe(alg)
      expect(payload).toMatchObject({ htm: 'POST', htu: HTU })

      // oidc-provider asks for a nonce first; the token client retries once, signing on the token.
      const tokens = createTokenClient({
        metadata: await discover(peer.issuer),
        clientId: 'basic-app',
        clientAuth: clientSecretBasic(CLIENT_SECRET),
        key: signer,
      })
      const before = peer.tokenResponses.length
      const set = await tokens.clientCredentials({ scope: 'api:read', resource: RESOURCE })
      expect(peer.tokenResponses.slice(before).map((r) => r.status)).toEqual([400, 200])
      expect(set.tokenType).toBe('DPoP')
      const claims = JSON.parse(Buffer.from(set.accessToken.split('.')[1]!, 'base64url').toString())
      expect(claims.cnf).toEqual({ jkt: signer.jkt })
    })
  }

  it('finds the key it created before, instead of creating another', async () => {
    const created = await open('proofs', 'reused', { alg: 'ES256' })
    const found = await open('proofs', 'reused', { alg: 'ES256', create: false })
    expect(found.jkt).toBe(created.jkt)
  })

  it('creates keys that are sensitive and never extractable', async () => {
    await open('proofs', 'sealed', { alg: 'ES256' })
    const pkcs11 = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js')
    const library = new pkcs11.PKCS11()
    library.load(SOFTHSM_MODULE)
    // The signer initialized the module in this process; this second handle shares that state.
    expect(() => library.C_Initialize()).toThrow(/CKR_CRYPTOKI_ALREADY_INITIALIZED/)
    const slot = library
      .C_GetSlotList(true)
      .find((candidate) => library.C_GetTokenInfo(candidate).label.trim() === 'proofs')!
    const session = library.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
    library.C_FindObjectsInit(session, [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
      { type: pkcs11.CKA_LABEL, value: 'sealed' },
    ])
    const [key] = library.C_FindObjects(session, 2)
    library.C_FindObjectsFinal(session)
    const [extractable, sensitive] = library.C_GetAttributeValue(session, key!, [
      { type: pkcs11.CKA_EXTRACTABLE },
      { type: pkcs11.CKA_SENSITIVE },
    ])
    expect((extractable!.value as Buffer)[0]).toBe(0)
    expect((sensitive!.value as Buffer)[0]).toBe(1)
    expect(() => library.C_GetAttributeValue(session, key!, [{ type: pkcs11.CKA_VALUE }])).toThrow(
      /CKR_ATTRIBUTE_SENSITIVE/,
    )
    library.C_CloseSession(session)
  })

  it('serves many concurrent proofs through a small session pool', async () => {
    const signer = await open('proofs', 'busy', { alg: 'ES256', poolSize: 3 })
    const proofs = await Promise.all(
      Array.from({ length: 40 }, () => createProof(signer, { htm: 'GET', htu: HTU })),
    )
    const replayStore = new MemoryReplayStore()
    for (const proof of proofs) {
      const verified = await verifyProof(proof, { method: 'GET', url: HTU }, { replayStore })
      expect(verified.jkt).toBe(signer.jkt)
    }
  })

  it('signs off the event loop: an immediate callback runs before any proof is back', async () => {
    const signer = await open('proofs', 'agent-PS256', { alg: 'PS256', rsaBits: 2048 })
    let doneWhenLoopTurned = -1
    let done = 0
    setImmediate(() => (doneWhenLoopTurned = done))
    await Promise.all(
      Array.from({ length: 8 }, () =>
        createProof(signer, { htm: 'GET', htu: HTU }).then(() => done++),
      ),
    )
    // A binding that signed synchronously would finish all eight before the loop turned.
    expect(doneWhenLoopTurned).toBe(0)
  })
})

describe('failures are clear errors, never a crash', () => {
  it('a wrong PIN is refused with ERR_DPOP_PKCS11_PIN_INVALID', async () => {
    // A token no signer in this process logged in to: PKCS#11 login state is per token and
    // process, so C_Login on a logged-in token answers CKR_USER_ALREADY_LOGGED_IN, PIN unchecked.
    const opening = openPkcs11Signer({
      uri: uri('locked-out', 'any').replace(`&pin-source=env:${PIN_ENV}`, ''),
      pin: () => 'not-the-pin',
    })
    await expect(opening).rejects.toBeInstanceOf(Pkcs11PinInvalid)
    await expect(opening).rejects.toMatchObject({
      code: 'ERR_DPOP_PKCS11_PIN_INVALID',
      reason: 'incorrect',
    })
  })

  it('an empty PIN variable is refused before the token is asked', async () => {
    const opening = openPkcs11Signer({
      uri: uri('proofs', 'agent-ES256').replace(PIN_ENV, 'KEYBOUND_TEST_UNSET_PIN'),
    })
    await expect(opening).rejects.toMatchObject({
      code: 'ERR_DPOP_PKCS11_PIN_INVALID',
      reason: 'missing',
    })
  })

  it('a PIN callback that throws is ERR_DPOP_PKCS11_PIN_INVALID, not a crash', async () => {
    const opening = openPkcs11Signer({
      uri: uri('locked-out', 'any').replace(`&pin-source=env:${PIN_ENV}`, ''),
      pin: () => {
        throw new Error('vault unreachable')
      },
    })
    await expect(opening).rejects.toMatchObject({
      code: 'ERR_DPOP_PKCS11_PIN_INVALID',
      reason: 'missing',
    })
  })

  it('a closed signer refuses to sign', async () => {
    const signer = await openPkcs11Signer({ uri: uri('proofs', 'closing'), create: true })
    await signer.close()
    await expect(createProof(signer, { htm: 'GET', htu: HTU })).rejects.toMatchObject({
      code: 'ERR_DPOP_PKCS11_FAILED',
      reason: 'closed',
    })
  })

  it('a PIN written into the URI is refused', async () => {
    await expect(
      openPkcs11Signer({ uri: `${uri('proofs', 'agent-ES256')}&pin-value=${PIN}` }),
    ).rejects.toMatchObject({ code: 'ERR_DPOP_PKCS11_URI_INVALID', claim: 'uri' })
  })

  it('a missing module is ERR_DPOP_PKCS11_MODULE_UNAVAILABLE', async () => {
    const opening = openPkcs11Signer({
      uri: uri('proofs', 'agent-ES256').replace(SOFTHSM_MODULE, '/nonexistent/libpkcs11.so'),
    })
    await expect(opening).rejects.toBeInstanceOf(Pkcs11ModuleUnavailable)
    await expect(opening).rejects.toMatchObject({ reason: 'load' })
  })

  it('a missing key is ERR_DPOP_PKCS11_KEY_NOT_FOUND unless asked to create it', async () => {
    const opening = openPkcs11Signer({ uri: uri('proofs', 'never-made') })
    await expect(opening).rejects.toBeInstanceOf(Pkcs11KeyNotFound)
    await expect(opening).rejects.toMatchObject({ reason: 'missing' })
  })

  it('a key of another type than alg is refused', async () => {
    const opening = openPkcs11Signer({ uri: uri('proofs', 'agent-ES256'), alg: 'RS256' })
    await expect(opening).rejects.toBeInstanceOf(Pkcs11KeyRejected)
  })

  it('a token that is not there is ERR_DPOP_PKCS11_TOKEN_UNAVAILABLE', async () => {
    await expect(openPkcs11Signer({ uri: uri('no-such-token', 'x') })).rejects.toBeInstanceOf(
      Pkcs11TokenUnavailable,
    )
  })

  it('a token removed in the middle of signing fails those proofs, then recovers', async () => {
    const signer = await open('removable', 'survivor', { alg: 'ES256', reconnectIntervalMs: 50 })
    const bystander = await open('proofs', 'bystander', { alg: 'ES256' })
    const inFlight = Array.from({ length: 30 }, () => createProof(signer, { htm: 'GET', htu: HTU }))
    await Promise.race(inFlight)
    hsm.removeTokens()
    const outcomes = await Promise.allSettled(inFlight)
    const failures = outcomes.filter((outcome) => outcome.status === 'rejected')
    expect(failures.length).toBeGreaterThan(0)
    for (const failure of failures) {
      expect((failure as PromiseRejectedResult).reason).toBeInstanceOf(Pkcs11TokenUnavailable)
    }
    const replayStore = new MemoryReplayStore()
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') {
        await verifyProof(outcome.value, { method: 'GET', url: HTU }, { replayStore })
      }
    }
    await expect(createProof(signer, { htm: 'GET', htu: HTU })).rejects.toMatchObject({
      code: 'ERR_DPOP_PKCS11_TOKEN_UNAVAILABLE',
    })

    hsm.reinsertTokens()
    await expect
      .poll(() => createProof(signer, { htm: 'GET', htu: HTU }).then(() => 'signed', String))
      .toBe('signed')
    await verifiedByCore(signer)
    // The re-initialization the recovery needed did not strand another signer on the module.
    await verifiedByCore(bystander)
  })
})

describe('pkcs11: URIs are parsed strictly', () => {
  it('names every problem at once', async () => {
    const bad =
      'pkcs11:token=a;token=b;colour=red;type=cert?module-name=softhsm&pin-source=file:/pin'
    const error = await openPkcs11Signer({ uri: bad }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(Pkcs11UriInvalid)
    const problems = (error as Pkcs11UriInvalid).details!.problems as string[]
    expect(problems.map((problem) => problem.split(':')[0])).toEqual([
      'token',
      'colour',
      'type',
      'module-name',
      'pin-source',
    ])
  })

  it('decodes percent-encoded labels and ids, and the module and PIN source', () => {
    const parsed = parsePkcs11Uri(
      'pkcs11:token=My%20Token;object=dpop%2Fagent;id=%01%02%ff;type=private;slot-id=7' +
        '?module-path=/usr/lib/x%20y.so&pin-source=env:DPOP_PIN',
    )
    expect(parsed).toEqual({
      token: 'My Token',
      object: 'dpop/agent',
      id: Uint8Array.from([1, 2, 255]),
      type: 'private',
      slotId: 7,
      modulePath: '/usr/lib/x y.so',
      pinEnv: 'DPOP_PIN',
    })
  })

  for (const [name, text] of [
    ['another scheme', 'pkcs12:token=a'],
    ['a fragment', 'pkcs11:token=a#x'],
    ['a broken escape', 'pkcs11:object=a%2'],
    ['a label that is not UTF-8', 'pkcs11:object=%ff'],
    ['a relative module path', 'pkcs11:object=a?module-path=lib.so'],
    ['a PIN in the URI', 'pkcs11:object=a?pin-value=1234'],
    ['an empty id', 'pkcs11:id='],
  ] as const) {
    it(`refuses ${name}`, () => {
      expect(() => parsePkcs11Uri(text)).toThrow(Pkcs11UriInvalid)
    })
  }

  it('never echoes a PIN from the URI in its error', () => {
    let error: Error | undefined
    try {
      parsePkcs11Uri('pkcs11:object=a?pin-value=s3cret-pin')
    } catch (caught) {
      error = caught as Error
    }
    // Without a refusal there is no error to inspect, and the check below would pass on nothing.
    expect(error).toBeInstanceOf(Error)
    expect(JSON.stringify({ ...error, message: error?.message })).not.toContain('s3cret-pin')
  })
})
