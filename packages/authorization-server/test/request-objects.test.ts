/**
 * Signed request objects (RFC 9101) are single-use and short-lived: `exp` is required and at
 * most MAX_REQUEST_OBJECT_LIFETIME seconds ahead, and a used object (by `jti`, or the whole
 * object without one) is refused until it has expired, at every instance sharing the database,
 * on SQLite and PostgreSQL.
 */
import * as jose from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_REQUEST_OBJECT_LIFETIME } from '../src/grants/authorization-request.js'
import { authorizationQuery, startInstances, type Instances } from './instances.js'
import { clientSigningKey, DATABASES, postForm } from './support.js'

// Both instances answer for one issuer, as behind a load balancer; /par needs no proof here.
const ISSUER = 'http://127.0.0.1:9'

interface ObjectClaims {
  exp?: number
  jti?: string
}

async function requestObject(nowSeconds: number, claims: ObjectClaims): Promise<string> {
  const jwt = new jose.SignJWT({ ...authorizationQuery('jar-app'), ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'client-key-1', typ: 'oauth-authz-req+jwt' })
    .setIssuer('jar-app')
    .setAudience(ISSUER)
    .setIssuedAt(nowSeconds)
  return jwt.sign(clientSigningKey.privateKey)
}

describe.each(DATABASES)('signed request objects on %s', (kind) => {
  let instances: Instances
  const now = () => Math.floor(instances.clock.now() / 1000)
  const push = (instance: number, request: string) =>
    postForm(instances.servers[instance]!.url('/par'), { client_id: 'jar-app', request })

  beforeAll(async () => {
    instances = await startInstances(kind, 2, { issuer: ISSUER })
  })
  afterAll(async () => {
    await instances?.close()
  })

  it('refuses an object without exp, even once', async () => {
    const answer = await push(0, await requestObject(now(), { jti: 'no-exp' }))
    expect([answer.status, answer.body]).toEqual([
      400,
      { error: 'invalid_request_object', error_description: 'request object must carry "exp"' },
    ])
  })

  it('refuses an object valid for longer than the bound', async () => {
    const tooLong = await push(
      0,
      await requestObject(now(), { exp: now() + MAX_REQUEST_OBJECT_LIFETIME + 3600, jti: 'long' }),
    )
    expect([tooLong.status, tooLong.body.error]).toEqual([400, 'invalid_request_object'])
    expect(tooLong.body.error_description).toMatch(/"exp" is more than 600 seconds ahead/)
    const bounded = await push(
      0,
      await requestObject(now(), { exp: now() + MAX_REQUEST_OBJECT_LIFETIME, jti: 'bounded' }),
    )
    expect(bounded.status, bounded.text).toBe(201)
  })

  it('refuses a reused jti at the same and at another instance, and a re-signed one too', async () => {
    const first = await requestObject(now(), { exp: now() + 120, jti: 'once' })
    expect((await push(0, first)).status).toBe(201)
    for (const instance of [0, 1]) {
      const again = await push(instance, first)
      expect([again.status, again.body]).toEqual([
        400,
        {
          error: 'invalid_request_object',
          error_description: 'request object was already used (same "jti")',
        },
      ])
    }
    // The browser leg refuses it too: the object is spent wherever it was used.
    const atAuthorize = await fetch(
      `${instances.servers[1]!.url('/authorize')}?${new URLSearchParams({ client_id: 'jar-app', request: first })}`,
    )
    expect(atAuthorize.status).toBe(400)
    expect(await atAuthorize.text()).toContain('request object was already used')
    // A different object (other exp, new signature) with the same jti is a reuse as well.
    const resigned = await requestObject(now(), { exp: now() + 60, jti: 'once' })
    expect((await push(1, resigned)).body.error).toBe('invalid_request_object')
  })

  it('without a jti, the same object cannot be used twice', async () => {
    const object = await requestObject(now(), { exp: now() + 120 })
    expect((await push(1, object)).status).toBe(201)
    expect((await push(0, object)).body.error).toBe('invalid_request_object')
    expect((await push(1, object)).body.error).toBe('invalid_request_object')
  })

  it('two parallel uses of one object: exactly one is accepted', async () => {
    const object = await requestObject(now(), { exp: now() + 120, jti: 'raced' })
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => push(i % 2, object)))
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(1)
    expect(answers.filter((answer) => answer.body.error === 'invalid_request_object')).toHaveLength(
      7,
    )
  })

  it('a jti can be used again once the earlier object has expired', async () => {
    const object = await requestObject(now(), { exp: now() + 30, jti: 'later' })
    expect((await push(0, object)).status).toBe(201)
    instances.clock.advance(60)
    expect((await push(0, object)).body.error).toBe('invalid_request_object') // expired itself
    const fresh = await requestObject(now(), { exp: now() + 30, jti: 'later' })
    const answer = await push(1, fresh)
    expect(answer.status, answer.text).toBe(201)
  })
})
