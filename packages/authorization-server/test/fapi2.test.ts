/**
 * The FAPI 2.0 Security Profile (final) with DPoP, over real HTTP on 127.0.0.1, on SQLite and on
 * PostgreSQL: our authorization server under `profile: fapi2`, our resource server
 * (@keybound/server) trusting its tokens, and clients that authenticate with private_key_jwt.
 *
 * The first block has one test per DPoP module of the OpenID Foundation's plan
 * `fapi2-security-profile-final-test-plan` (variant sender_constrain=dpop,
 * client_auth_type=private_key_jwt, openid=plain_oauth), named after the module and checking
 * what the module's published description says it checks (the module sources in
 * openid-certification/conformance-suite, src/main/java/net/openid/conformance/fapi2spfinal/,
 * were read for that; nothing here is taken from them). Where a module accepts either of two
 * answers (400 or 401 at the resource server; invalid_request, invalid_grant or
 * invalid_dpop_proof at the token endpoint), the test pins the one Keybound gives. The second
 * block breaks each rule of the profile once and expects the refusal.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configIssues, testClock } from './instances.js'
import {
  authenticationOf,
  makeKey,
  Prover,
  runFlow,
  signJws,
  startResourceServer,
  fapiClientConfig,
  type FapiClient,
  type TestResourceServer,
} from './fapi2-support.js'
import {
  authorize,
  DATABASES,
  decodeJwt,
  postForm,
  REDIRECT,
  startServer,
  type TestServer,
} from './support.js'

const now = () => Math.floor(Date.now() / 1000)

describe.each(DATABASES)('FAPI 2.0 profile on %s', (kind) => {
  let as: TestServer
  let rs: TestResourceServer
  let client: FapiClient
  let rsaClient: FapiClient

  beforeAll(async () => {
    client = { clientId: 'fapi-client', key: await makeKey('ES256') }
    rsaClient = { clientId: 'fapi-rsa-client', key: await makeKey('PS256') }
    rs = await startResourceServer()
    as = await startServer(kind, {
      profile: 'fapi2',
      accessTokens: { audience: rs.url },
      clients: [
        fapiClientConfig(client),
        // No `alg` on this key: only the profile's rule stops RS256 with it.
        fapiClientConfig(rsaClient, {
          jwks: { keys: [{ ...rsaClient.key.jwk, kid: `${rsaClient.clientId}-key` }] },
        }),
      ],
    })
    rs.trust(as.issuer)
  })
  afterAll(async () => {
    await Promise.all([as?.close(), rs?.close()])
  })

  /** A bound access token for `prover` through the whole flow (PAR with the same key). */
  async function tokenFor(prover: Prover): Promise<string> {
    const { token } = await runFlow(as.issuer, {
      client,
      parProver: prover,
      tokenProver: prover,
    })
    expect(token?.status, token?.text).toBe(200)
    return token!.body.access_token as string
  }

  /** A signed request object (RFC 9101) of `owner` for PAR, with header and claim changes. */
  function requestObject(
    owner: FapiClient,
    header: Record<string, unknown>,
    claims: Record<string, unknown> = {},
  ): string {
    return signJws(
      owner.key,
      { alg: owner.key.alg, kid: `${owner.clientId}-key`, typ: 'oauth-authz-req+jwt', ...header },
      {
        iss: owner.clientId,
        aud: as.issuer,
        client_id: owner.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        jti: randomBytes(8).toString('base64url'),
        iat: now(),
        exp: now() + 60,
        ...claims,
      },
    )
  }

  /** Pushes `request` (a request object) for `owner` with a fresh proof and assertion. */
  async function pushObject(owner: FapiClient, request: string) {
    const prover = await Prover.create()
    return prover.post(as.url('/par'), async () => ({
      request,
      ...(await authenticationOf(owner, as.issuer)),
    }))
  }

  /** Calls the resource server with the DPoP scheme and a proof. */
  function callRs(token: string, proof: string, scheme = 'DPoP') {
    return rs.get([
      ['authorization', `${scheme} ${token}`],
      ['dpop', proof],
    ])
  }

  describe('the OpenID Foundation DPoP modules', () => {
    it('AS30 fapi2-security-profile-final-ensure-dpop-auth-code-binding-success: dpop_jkt matching the PAR and token proofs', async () => {
      const prover = await Prover.create()
      const flow = await runFlow(as.issuer, {
        client,
        parProver: prover,
        tokenProver: prover,
        push: { dpop_jkt: prover.jkt },
      })
      expect(flow.par.status, flow.par.text).toBe(201)
      // RFC 9207 through the profile: the authorization response names the issuer.
      expect(flow.authorization?.searchParams.get('iss')).toBe(as.issuer)
      expect(flow.authorization?.searchParams.get('state')).toBe('fapi-state')
      expect([flow.token?.status, flow.token?.body.token_type]).toEqual([200, 'DPoP'])
      const token = flow.token!.body.access_token as string
      expect(decodeJwt(token).payload.cnf).toEqual({ jkt: prover.jkt })
      const answer = await callRs(
        token,
        prover.proof(`${rs.url}/items`, { htm: 'GET', accessToken: token }),
      )
      expect(answer.status).toBe(200)
    })

    it('AS31 fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success: the PAR proof key binds the code', async () => {
      const prover = await Prover.create()
      const flow = await runFlow(as.issuer, { client, parProver: prover, tokenProver: prover })
      expect(flow.par.status).toBe(201)
      expect(flow.token?.status, flow.token?.text).toBe(200)
      expect(decodeJwt(flow.token!.body.access_token).payload.cnf).toEqual({ jkt: prover.jkt })
    })

    it('AS32 fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails: PAR refuses dpop_jkt of another key than its proof', async () => {
      const prover = await Prover.create()
      const other = await makeKey()
      const flow = await runFlow(as.issuer, {
        client,
        parProver: prover,
        push: { dpop_jkt: other.jkt },
      })
      expect([flow.par.status, flow.par.body]).toEqual([
        400,
        {
          error: 'invalid_request',
          error_description: '"dpop_jkt" does not match the key of the DPoP proof',
        },
      ])
    })

    it('AS33 fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt: a code pushed with another dpop_jkt is refused', async () => {
      const prover = await Prover.create()
      const other = await makeKey()
      const flow = await runFlow(as.issuer, {
        client,
        tokenProver: prover,
        push: { dpop_jkt: other.jkt },
      })
      expect(flow.par.status).toBe(201)
      expect([flow.token?.status, flow.token?.body.error]).toEqual([400, 'invalid_grant'])
      expect(flow.token?.body.error_description).toMatch(/does not match "dpop_jkt"/)
    })

    it('AS34 fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt: PAR and token proofs by different keys', async () => {
      const flow = await runFlow(as.issuer, {
        client,
        parProver: await Prover.create(),
        tokenProver: await Prover.create(),
      })
      expect(flow.par.status).toBe(201)
      expect([flow.token?.status, flow.token?.body.error]).toEqual([400, 'invalid_grant'])
    })

    for (const [name, offset] of [
      ['fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds', 10],
      ['fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds', -10],
    ] as const) {
      it(`AS35 ${name}: iat ${offset} s at PAR, token and resource`, async () => {
        const prover = await Prover.create()
        const dated = { claims: { iat: now() + offset } }
        const flow = await runFlow(as.issuer, {
          client,
          parProver: prover,
          parProof: dated,
          tokenProver: prover,
          tokenProof: dated,
        })
        expect(flow.par.status, flow.par.text).toBe(201)
        expect(flow.token?.status, flow.token?.text).toBe(200)
        const token = flow.token!.body.access_token as string
        const proof = prover.proof(`${rs.url}/items`, {
          htm: 'GET',
          accessToken: token,
          claims: { iat: now() + offset },
        })
        expect((await callRs(token, proof)).status).toBe(200)
      })
    }

    it('AS36 fapi2-security-profile-final-check-dpop-proof-nbf-exp: proofs with nbf and exp are handled at PAR, token and resource', async () => {
      const prover = await Prover.create()
      const withTimes = () => ({ claims: { nbf: now(), exp: now() + 300 } })
      const flow = await runFlow(as.issuer, {
        client,
        parProver: prover,
        parProof: withTimes(),
        tokenProver: prover,
        tokenProof: withTimes(),
      })
      expect(flow.par.status, flow.par.text).toBe(201)
      expect(flow.token?.status, flow.token?.text).toBe(200)
      const token = flow.token!.body.access_token as string
      const proof = prover.proof(`${rs.url}/items`, {
        htm: 'GET',
        accessToken: token,
        ...withTimes(),
      })
      expect((await callRs(token, proof)).status).toBe(200)
    })

    it('AS37 fapi2-security-profile-final-dpop-negative-tests: the resource server refuses every broken proof, and a good one still works', async () => {
      const prover = await Prover.create()
      const rsaProver = await Prover.create('PS256')
      const token = await tokenFor(prover)
      const rsaToken = await tokenFor(rsaProver)
      const url = `${rs.url}/items`
      const good = (changes = {}) =>
        prover.proof(url, { htm: 'GET', accessToken: token, ...changes })
      const stranger = await makeKey()
      const fixedJti = randomBytes(16).toString('base64url')
      const parts = good().split('.')
      const cases: { name: string; lines: () => [string, string][]; status: number }[] = [
        {
          name: 'DPoP header name in upper case',
          lines: () => [
            ['authorization', `DPoP ${token}`],
            ['DPOP', good()],
          ],
          status: 200,
        },
        {
          name: 'two DPoP headers',
          lines: () => [
            ['authorization', `DPoP ${token}`],
            ['dpop', good()],
            ['dpop', good()],
          ],
          status: 401,
        },
        {
          name: 'not a well-formed JWT',
          lines: () => [
            ['authorization', `DPoP ${token}`],
            ['dpop', `${parts[0]}.${parts[1]}`],
          ],
          status: 401,
        },
        {
          name: 'typ missing',
          lines: () => lines(good({ header: { typ: undefined } })),
          status: 401,
        },
        { name: 'alg missing', lines: () => lines(withoutAlg(good())), status: 401 },
        {
          name: 'jwk missing',
          lines: () => lines(good({ header: { jwk: undefined } })),
          status: 401,
        },
        {
          name: 'jti missing',
          lines: () => lines(good({ claims: { jti: undefined } })),
          status: 401,
        },
        {
          name: 'htm missing',
          lines: () => lines(good({ claims: { htm: undefined } })),
          status: 401,
        },
        {
          name: 'htu missing',
          lines: () => lines(good({ claims: { htu: undefined } })),
          status: 401,
        },
        {
          name: 'iat missing',
          lines: () => lines(good({ claims: { iat: undefined } })),
          status: 401,
        },
        { name: 'ath missing', lines: () => lines(prover.proof(url, { htm: 'GET' })), status: 401 },
        {
          name: 'typ is not dpop+jwt',
          lines: () => lines(good({ header: { typ: 'JWT' } })),
          status: 401,
        },
        {
          name: 'signed with RS256',
          lines: () => [
            ['authorization', `DPoP ${rsaToken}`],
            [
              'dpop',
              rsaProver.proof(url, { htm: 'GET', accessToken: rsaToken, header: { alg: 'RS256' } }),
            ],
          ],
          status: 401,
        },
        {
          name: 'alg none',
          lines: () => lines(unsigned(good({ header: { alg: 'none' } }))),
          status: 401,
        },
        { name: 'invalid signature', lines: () => lines(tampered(good())), status: 401 },
        {
          name: 'private key in jwk',
          lines: () => lines(good({ header: { jwk: privateJwk(prover) } })),
          status: 401,
        },
        { name: 'htm PUT', lines: () => lines(good({ htm: 'PUT' })), status: 401 },
        {
          name: 'htu with query and fragment (ignored)',
          lines: () => lines(good({ claims: { htu: `${url}?a=b#c` } })),
          status: 200,
        },
        {
          name: 'htu of another URL',
          lines: () => lines(good({ claims: { htu: `${rs.url}/other` } })),
          status: 401,
        },
        {
          name: 'iat one hour ahead',
          lines: () => lines(good({ claims: { iat: now() + 3600 } })),
          status: 401,
        },
        {
          name: 'iat one hour ago',
          lines: () => lines(good({ claims: { iat: now() - 3600 } })),
          status: 401,
        },
        {
          name: 'jti first use',
          lines: () => lines(good({ claims: { jti: fixedJti } })),
          status: 200,
        },
        {
          name: 'jti reused',
          lines: () => lines(good({ claims: { jti: fixedJti } })),
          status: 401,
        },
        {
          name: 'ath of another token',
          lines: () => lines(good({ claims: { ath: randomBytes(32).toString('base64url') } })),
          status: 401,
        },
        {
          name: 'signed with another key',
          lines: () =>
            lines(
              signJws(
                stranger,
                { typ: 'dpop+jwt', alg: 'ES256', jwk: stranger.jwk },
                payloadOf(good()),
              ),
            ),
          status: 401,
        },
        {
          name: 'extra header members and claims (ignored)',
          lines: () => lines(good({ header: { extra: 'x' }, claims: { extra: 'y' } })),
          status: 200,
        },
        {
          name: 'scheme and host of htu in upper case',
          lines: () =>
            lines(good({ claims: { htu: url.replace('http://127.0.0.1', 'HTTP://127.0.0.1') } })),
          status: 200,
        },
        { name: 'no DPoP header', lines: () => [['authorization', `DPoP ${token}`]], status: 401 },
        {
          name: 'no DPoP header and the Bearer scheme',
          lines: () => [['authorization', `Bearer ${token}`]],
          status: 401,
        },
        { name: 'a correct proof still works', lines: () => lines(good()), status: 200 },
      ]
      function lines(proof: string): [string, string][] {
        return [
          ['authorization', `DPoP ${token}`],
          ['dpop', proof],
        ]
      }
      const outcomes = []
      for (const { name, lines: make, status } of cases)
        outcomes.push([name, (await rs.get(make())).status, status])
      expect(outcomes.filter(([, got, want]) => got !== want)).toEqual([])
    })

    it('AS38 fapi2-security-profile-final-access-token-type-header-case-sensitivity: the DPoP scheme in any case', async () => {
      const prover = await Prover.create()
      const token = await tokenFor(prover)
      for (const scheme of ['dPoP', 'dpop', 'DPOP']) {
        const proof = prover.proof(`${rs.url}/items`, { htm: 'GET', accessToken: token })
        expect((await callRs(token, proof, scheme)).status, scheme).toBe(200)
      }
    })
  })

  describe('each profile rule refused when broken', () => {
    it('AS39 only private_key_jwt clients: a registration with another method and an assertion with another alg are refused', async () => {
      const registered = await fetch(as.url('/register'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer initial-access-token-0123456789',
        },
        body: JSON.stringify({
          redirect_uris: [REDIRECT],
          token_endpoint_auth_method: 'client_secret_basic',
        }),
      })
      expect([registered.status, await registered.json()]).toEqual([
        400,
        {
          error: 'invalid_client_metadata',
          error_description:
            'token_endpoint_auth_method: must be private_key_jwt under profile fapi2',
        },
      ])
      // RS256 with the PS256 client's own RSA key: a valid signature, an algorithm the profile bars.
      const prover = await Prover.create()
      const answer = await prover.post(as.url('/par'), async () => ({
        response_type: 'code',
        redirect_uri: REDIRECT,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        ...(await authenticationOf(rsaClient, as.issuer, { alg: 'RS256' })),
      }))
      expect([answer.status, answer.body.error]).toEqual([401, 'invalid_client'])
      // The same for a request object: RS256 refused, PS256 with the same key accepted.
      const rs256 = await pushObject(rsaClient, requestObject(rsaClient, { alg: 'RS256' }))
      expect([rs256.status, rs256.body.error]).toEqual([400, 'invalid_request_object'])
      const ps256 = await pushObject(rsaClient, requestObject(rsaClient, {}))
      expect(ps256.status, ps256.text).toBe(201)
    })

    it('AS39 E23 a DPoP proof with an algorithm outside the profile is refused at PAR and token', async () => {
      const es384 = await Prover.create('ES384')
      const flow = await runFlow(as.issuer, { client, parProver: es384 })
      expect([flow.par.status, flow.par.body.error]).toEqual([400, 'invalid_dpop_proof'])
      const rs256 = await Prover.create('PS256')
      const token = await runFlow(as.issuer, {
        client,
        tokenProver: rs256,
        tokenProof: { header: { alg: 'RS256' } },
      })
      expect([token.token?.status, token.token?.body.error]).toEqual([400, 'invalid_dpop_proof'])
    })

    it('AS40 E20 PAR is required, authenticated, names redirect_uri, and lives under 600 s', async () => {
      const prover = await Prover.create()
      const direct = await authorize(as.issuer, {
        response_type: 'code',
        client_id: client.clientId,
        redirect_uri: REDIRECT,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      })
      expect(direct.location?.searchParams.get('error')).toBe('invalid_request')
      expect(direct.location?.searchParams.get('iss')).toBe(as.issuer)
      const unauthenticated = await prover.post(as.url('/par'), {
        client_id: client.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      })
      expect([unauthenticated.status, unauthenticated.body.error]).toEqual([401, 'invalid_client'])
      const noRedirect = await runFlow(as.issuer, {
        client,
        parProver: prover,
        push: { redirect_uri: undefined },
      })
      expect([noRedirect.par.status, noRedirect.par.body]).toEqual([
        400,
        {
          error: 'invalid_request',
          error_description: '"redirect_uri" is required in a pushed request (FAPI 2.0)',
        },
      ])
      const pushed = await runFlow(as.issuer, { client, parProver: prover })
      expect(pushed.par.body.expires_in).toBeLessThan(600)
    })

    it('AS40 response_type=code with PKCE S256 only', async () => {
      const prover = await Prover.create()
      const cases: [Record<string, string | undefined>, string][] = [
        [{ response_type: 'token' }, 'unsupported_response_type'],
        [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
        [{ code_challenge_method: 'plain' }, 'invalid_request'],
      ]
      for (const [push, error] of cases) {
        const flow = await runFlow(as.issuer, { client, parProver: prover, push })
        expect([flow.par.status, flow.par.body.error], JSON.stringify(push)).toEqual([400, error])
      }
    })

    it('AS41 E22 DPoP is required at the token endpoint', async () => {
      const pushed = await runFlow(as.issuer, { client, parProver: await Prover.create() })
      expect(pushed.par.status).toBe(201)
      const answer = await postForm(as.url('/token'), {
        grant_type: 'refresh_token',
        refresh_token: 'kbrt_unknown',
        ...(await authenticationOf(client, as.issuer)),
      })
      expect([answer.status, answer.body.error]).toEqual([400, 'invalid_request'])
      expect(answer.body.error_description).toMatch(/DPoP proof is required/)
    })

    it('AS41 metadata says what the profile enforces', async () => {
      const metadata = await (await fetch(as.url('/.well-known/oauth-authorization-server'))).json()
      expect(metadata).toMatchObject({
        require_pushed_authorization_requests: true,
        authorization_response_iss_parameter_supported: true,
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['ES256', 'PS256', 'EdDSA'],
        request_object_signing_alg_values_supported: ['ES256', 'PS256', 'EdDSA'],
        dpop_signing_alg_values_supported: ['PS256', 'ES256', 'EdDSA'],
        code_challenge_methods_supported: ['S256'],
        response_types_supported: ['code'],
      })
    })

    it('AS42 E21 E23 time rules: iat up to 10 s ahead accepted, more than 60 s refused, also with a nonce', async () => {
      const prover = await Prover.create()
      // The prover answers the nonce challenge first, so the refused proofs carry a valid nonce.
      const ahead = await runFlow(as.issuer, {
        client,
        parProver: prover,
        parProof: { claims: { iat: now() + 61 } },
      })
      expect([ahead.par.status, ahead.par.body.error]).toEqual([400, 'invalid_dpop_proof'])
      const nbfAhead = await runFlow(as.issuer, {
        client,
        parProver: prover,
        parProof: { claims: { nbf: now() + 61 } },
      })
      expect([nbfAhead.par.status, nbfAhead.par.body.error]).toEqual([400, 'invalid_dpop_proof'])
      const expired = await runFlow(as.issuer, {
        client,
        parProver: prover,
        parProof: { claims: { exp: now() - 120 } },
      })
      expect([expired.par.status, expired.par.body.error]).toEqual([400, 'invalid_dpop_proof'])
      const stale = await runFlow(as.issuer, {
        client,
        parProver: prover,
        parProof: { claims: { iat: now() - 3600 } },
      })
      expect([stale.par.status, stale.par.body.error]).toEqual([400, 'invalid_dpop_proof'])
      for (const [changes, status] of [
        [{ iat: now() + 10 }, 201],
        [{ iat: now() + 61 }, 401],
        [{ nbf: now() + 61 }, 401],
      ] as const) {
        const answer = await prover.post(as.url('/par'), async () => ({
          response_type: 'code',
          redirect_uri: REDIRECT,
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          ...(await authenticationOf(client, as.issuer, changes)),
        }))
        expect(answer.status, `${JSON.stringify(changes)} ${answer.text}`).toBe(status)
        if (status === 401) expect(answer.body.error).toBe('invalid_client')
      }
      for (const [claims, status] of [
        [{ iat: now() + 10 }, 201],
        [{ iat: now() + 61 }, 400],
        [{ nbf: now() + 61 }, 400],
      ] as const) {
        const answer = await pushObject(client, requestObject(client, {}, claims))
        expect(answer.status, `${JSON.stringify(claims)} ${answer.text}`).toBe(status)
        if (status === 400) expect(answer.body.error).toBe('invalid_request_object')
      }
    })

    it('AS43 refresh tokens are not rotated; the token stays usable, bound tokens follow the proof, revocation still holds', async () => {
      const prover = await Prover.create()
      const flow = await runFlow(as.issuer, { client, parProver: prover, tokenProver: prover })
      const refreshToken = flow.token!.body.refresh_token as string
      expect(refreshToken).toMatch(/^kbrt_/)
      const refresh = async (with_: Prover) =>
        with_.post(as.url('/token'), async () => ({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          ...(await authenticationOf(client, as.issuer)),
        }))
      for (let i = 0; i < 2; i++) {
        const answer = await refresh(prover)
        expect(answer.status, answer.text).toBe(200)
        expect(answer.body.refresh_token).toBeUndefined()
        expect(decodeJwt(answer.body.access_token).payload.cnf).toEqual({ jkt: prover.jkt })
      }
      // A confidential client's refresh token is not bound (AS6): a new key gets tokens bound to it.
      const next = await Prover.create()
      const moved = await refresh(next)
      expect(decodeJwt(moved.body.access_token).payload.cnf).toEqual({ jkt: next.jkt })
      const revoked = await postForm(as.url('/revoke'), {
        token: refreshToken,
        ...(await authenticationOf(client, as.issuer)),
      })
      expect(revoked.status).toBe(200)
      const after = await refresh(prover)
      expect([after.status, after.body.error]).toEqual([400, 'invalid_grant'])
    })
  })
})

describe.each(DATABASES)('FAPI 2.0 for one client on %s', (kind) => {
  let as: TestServer
  let client: FapiClient
  const clock = testClock()

  beforeAll(async () => {
    client = { clientId: 'fapi-one', key: await makeKey('ES256') }
    as = await startServer(
      kind,
      {
        authorizationCodes: { lifetime: 600 },
        clients: [
          fapiClientConfig(client, { profile: 'fapi2' }),
          { client_id: 'plain-app', redirect_uris: [REDIRECT], scope: 'read', first_party: true },
        ],
      },
      { now: clock.now },
    )
  })
  afterAll(async () => {
    await as?.close()
  })

  it('AS41 the profile client must push its request and its code lives 60 s; another client need not', async () => {
    const direct = await authorize(as.issuer, {
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })
    expect(direct.location?.searchParams.get('error')).toBe('invalid_request')
    const plain = await authorize(as.issuer, {
      response_type: 'code',
      client_id: 'plain-app',
      redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })
    expect(plain.location?.searchParams.get('code')).toBeTruthy()

    // The server accepts ES384 and nonce-dated proofs; this client's requests do not (E21).
    const es384 = await runFlow(as.issuer, {
      client,
      parProver: await Prover.create('ES384', clock.now),
    })
    expect([es384.par.status, es384.par.body.error]).toEqual([400, 'invalid_dpop_proof'])
    const stale = await runFlow(as.issuer, {
      client,
      parProver: await Prover.create('ES256', clock.now),
      parProof: { claims: { iat: Math.floor(clock.now() / 1000) - 3600 } },
    })
    expect([stale.par.status, stale.par.body]).toEqual([
      400,
      { error: 'invalid_dpop_proof', error_description: 'DPoP proof "iat" is too old' },
    ])

    const prover = await Prover.create('ES256', clock.now)
    const late = await runFlow(as.issuer, { client, parProver: prover })
    const result = await authorize(as.issuer, {
      client_id: client.clientId,
      request_uri: late.par.body.request_uri,
    })
    const code = result.location!.searchParams.get('code')!
    clock.advance(61)
    const answer = await prover.post(as.url('/token'), async () => ({
      grant_type: 'authorization_code',
      code,
      code_verifier: 'x'.repeat(43),
      redirect_uri: REDIRECT,
      ...(await authenticationOf(client, as.issuer, {
        nowSeconds: Math.floor(clock.now() / 1000),
      })),
    }))
    expect([answer.status, answer.body.error]).toEqual([400, 'invalid_grant'])
    expect(answer.body.error_description).toMatch(/expired/)
  })
})

describe.each(DATABASES)('the RFC 9207 switch outside the profile on %s', (kind) => {
  let as: TestServer
  beforeAll(async () => {
    as = await startServer(kind, { authorizationResponse: { iss: false } })
  })
  afterAll(async () => {
    await as?.close()
  })

  it('AS44 authorizationResponse.iss: false leaves iss out of codes, errors and metadata', async () => {
    const query = {
      response_type: 'code',
      client_id: 'public-app',
      redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }
    const granted = await authorize(as.issuer, query)
    expect(granted.location?.searchParams.get('code')).toBeTruthy()
    expect(granted.location?.searchParams.has('iss')).toBe(false)
    const refused = await authorize(as.issuer, { ...query, code_challenge_method: 'plain' })
    expect(refused.location?.searchParams.get('error')).toBe('invalid_request')
    expect(refused.location?.searchParams.has('iss')).toBe(false)
    const metadata = await (await fetch(as.url('/.well-known/oauth-authorization-server'))).json()
    expect(metadata.authorization_response_iss_parameter_supported).toBe(false)
  })
})

describe('FAPI 2.0 configuration', () => {
  const key = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }
  const fapiClient = {
    client_id: 'c',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [key] },
    redirect_uris: [REDIRECT],
  }

  it('AS39 a client that breaks the profile is named field by field', async () => {
    const weakRsa = (await makeKey('PS256', 1024)).jwk
    expect(
      configIssues({
        profile: 'fapi2',
        clients: [
          { client_id: 'secret', client_secret: 'a-secret-of-16-chars', redirect_uris: [REDIRECT] },
          { client_id: 'public', redirect_uris: [REDIRECT] },
          { ...fapiClient, client_id: 'bearer', bearer_access_tokens: true },
          {
            ...fapiClient,
            client_id: 'keys',
            jwks: {
              keys: [
                { ...weakRsa },
                { ...key, crv: 'P-384' },
                { ...key, alg: 'RS256' },
                { kty: 'OKP', crv: 'Ed448', x: 'x' },
              ],
            },
          },
        ],
      }),
    ).toEqual([
      'clients[0].token_endpoint_auth_method: must be private_key_jwt under profile fapi2',
      'clients[0].client_secret: must not be set under profile fapi2 (private_key_jwt only)',
      'clients[1].token_endpoint_auth_method: must be private_key_jwt under profile fapi2',
      'clients[2].bearer_access_tokens: must be false under profile fapi2 (DPoP-bound tokens only)',
      'clients[3].jwks.keys[0]: an RSA key must have at least 2048 bits under profile fapi2 (has 1024)',
      'clients[3].jwks.keys[1]: crv must be P-256 (ES256) for an EC key under profile fapi2',
      'clients[3].jwks.keys[2]: alg must be one of PS256, ES256, EdDSA under profile fapi2',
      'clients[3].jwks.keys[3]: crv must be Ed25519 (EdDSA) for an OKP key under profile fapi2',
    ])
  })

  it('AS40 AS41 server settings that break the profile are named by path', () => {
    expect(
      configIssues({
        profile: 'fapi2',
        clients: [fapiClient],
        par: { lifetime: 600, required: false },
        authorizationCodes: { lifetime: 61 },
        authorizationResponse: { iss: false },
        signing: { alg: 'RS256' },
        dpop: { required: false, algorithms: ['ES256', 'RS256'], clockTolerance: 61 },
      }),
    ).toEqual([
      'par.lifetime: must be under 600 seconds under profile fapi2',
      'signing.alg: must be one of PS256, ES256, EdDSA under profile fapi2',
      'authorizationResponse.iss: must be true under profile fapi2 (RFC 9207)',
      'dpop.clockTolerance: must be from 10 to 60 seconds under profile fapi2',
      'par.required: must be true under profile fapi2',
      'dpop.required: must be true under profile fapi2',
      'authorizationCodes.lifetime: must be at most 60 seconds under profile fapi2',
      'dpop.algorithms[1]: must be one of PS256, ES256, EdDSA under profile fapi2',
    ])
    // One profile client is enough for the settings every client shares.
    expect(
      configIssues({
        clients: [{ ...fapiClient, profile: 'fapi2' }],
        par: { lifetime: 600 },
        signing: { alg: 'RS256' },
      }),
    ).toEqual([
      'par.lifetime: must be under 600 seconds under profile fapi2',
      'signing.alg: must be one of PS256, ES256, EdDSA under profile fapi2',
    ])
    expect(configIssues({ profile: 'fapi1' })).toEqual(['profile: must be one of fapi2'])
  })
})

function withoutAlg(jws: string): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string]
  const decoded = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>
  delete decoded.alg
  return `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}.${payload}.${signature}`
}

function unsigned(jws: string): string {
  return `${jws.split('.').slice(0, 2).join('.')}.`
}

function tampered(jws: string): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string]
  const bytes = Buffer.from(signature, 'base64url')
  bytes[0] = bytes[0]! ^ 0xff
  return `${header}.${payload}.${bytes.toString('base64url')}`
}

function payloadOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >
}

function privateJwk(prover: Prover): Record<string, unknown> {
  return prover.key.privateKey.export({ format: 'jwk' }) as Record<string, unknown>
}
