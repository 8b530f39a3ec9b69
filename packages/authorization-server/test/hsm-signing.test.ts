/**
 * Token-signing keys on a real SoftHSM2 token (its own token directory via SOFTHSM2_CONF):
 * tokens signed there verify with @keybound/server and express-oauth2-jwt-bearer against the
 * AS's jwks_uri; rotation keeps the previous key published; a removed token gives 503 and the
 * server recovers by itself; wrong PIN, missing module and missing key fail the start clearly.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createProof } from '@keybound/core'
import { openPkcs11Signer } from '@keybound/pkcs11'
import { jwtAccessTokens } from '@keybound/server'
import express from 'express'
import { auth } from 'express-oauth2-jwt-bearer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SOFTHSM_MODULE, startSoftHsm, type SoftHsm } from '@keybound/test-kit/softhsm'
import { createAuthorizationServer } from '../src/index.js'
import { openDatabase } from '../src/storage/database.js'
import {
  baseConfig,
  basic,
  codeForm,
  decodeJwt,
  Dpop,
  freshStorage,
  getCode,
  startServer,
  type TestServer,
} from './support.js'

const PIN = '4321'
const PIN_ENV = 'KB_TEST_AS_HSM_PIN'

function pkcs11Signing(token: string, modulePath = SOFTHSM_MODULE): Record<string, unknown> {
  return {
    alg: 'ES256',
    pkcs11: {
      uri: `pkcs11:token=${token};object=as-signing?module-path=${modulePath}`,
      pinEnv: PIN_ENV,
    },
  }
}

let hsm: SoftHsm
let t: TestServer
let dpop: Dpop

async function issue(): Promise<{ status: number; body: any; headers: Headers }> {
  return dpop.post(t.url('/token'), { grant_type: 'client_credentials' }, basic('service'))
}

async function publishedKeys(): Promise<Record<string, string>[]> {
  return ((await (await fetch(t.url('/jwks'))).json()) as { keys: Record<string, string>[] }).keys
}

async function publishedKids(): Promise<string[]> {
  return (await publishedKeys()).map((key) => key.kid!)
}

/** The public key the token holds under `as-signing-<kid>`, read there, not from the server. */
async function tokenKeyOf(kid: string): Promise<Record<string, unknown>> {
  const signer = await openPkcs11Signer({
    uri: `pkcs11:token=as;object=as-signing-${kid}?module-path=${SOFTHSM_MODULE}`,
    pin: { env: PIN_ENV },
  })
  try {
    return { ...signer.publicJwk }
  } finally {
    await signer.close()
  }
}

beforeAll(async () => {
  hsm = startSoftHsm()
  // PKCS#11 logins are per process: 'fresh' is a token nobody logged in to, for the wrong PIN.
  hsm.initTokens(['as', 'empty', 'fresh'], PIN)
  process.env[PIN_ENV] = PIN
  t = await startServer('sqlite', { signing: pkcs11Signing('as') })
  dpop = await Dpop.create()
})

afterAll(async () => {
  await t?.close()
  hsm?.cleanup()
  delete process.env[PIN_ENV]
})

describe('access tokens signed on a PKCS#11 token', () => {
  it('verifies with @keybound/server against jwks_uri', async () => {
    const issued = await issue()
    expect(issued.status).toBe(200)
    const { header } = decodeJwt(issued.body.access_token)
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' })
    const [published] = await publishedKeys()
    expect(published).toMatchObject({ kid: header.kid, alg: 'ES256', use: 'sig' })
    // The published key is the one on the token, so the token signed this access token.
    expect(published).toMatchObject(await tokenKeyOf(header.kid))
    const validator = jwtAccessTokens({
      issuer: t.issuer,
      audience: t.issuer,
      jwksUri: t.url('/jwks'),
    })
    const info = await validator.validate(issued.body.access_token)
    expect(info.jkt).toBe(dpop.jkt)
    expect(info.clientId).toBe('service')
  })

  it('verifies with express-oauth2-jwt-bearer (DPoP required, RFC 9068 strict)', async () => {
    const app = express()
    app.get(
      '/data',
      auth({
        issuer: t.issuer,
        jwksUri: t.url('/jwks'),
        audience: t.issuer,
        tokenSigningAlg: 'ES256',
        strict: true,
        dpop: { enabled: true, required: true },
      }),
      (req, res) => {
        res.json({ sub: req.auth!.payload.sub })
      },
    )
    const server: Server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data`
      const token = (await issue()).body.access_token as string
      const proof = await createProof(dpop.key, { htm: 'GET', htu: url, accessToken: token })
      const answer = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } })
      expect(answer.status).toBe(200)
      expect(await answer.json()).toEqual({ sub: 'service' })
      const forged = `${token.slice(0, -4)}AAAA`
      const refused = await fetch(url, {
        headers: {
          authorization: `DPoP ${forged}`,
          dpop: await createProof(dpop.key, { htm: 'GET', htu: url, accessToken: forged }),
        },
      })
      expect(refused.status).toBe(401)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('rotation creates the next key on the token and keeps the previous one published', async () => {
    const before = await issue()
    const oldKid = decodeJwt(before.body.access_token).header.kid
    await t.server.rotateSigningKeys()
    const after = await issue()
    const newKid = decodeJwt(after.body.access_token).header.kid
    expect(newKid).not.toBe(oldKid)
    expect((await publishedKids()).sort()).toEqual([oldKid, newKid].sort())
    const published = await publishedKeys()
    expect(published.find((key) => key.kid === newKid)).toMatchObject(await tokenKeyOf(newKid))
    const validator = jwtAccessTokens({
      issuer: t.issuer,
      audience: t.issuer,
      jwksUri: t.url('/jwks'),
    })
    expect((await validator.validate(before.body.access_token)).clientId).toBe('service')
    expect((await validator.validate(after.body.access_token)).clientId).toBe('service')
  })

  it('answers 503 temporarily_unavailable while the token is removed, then recovers', async () => {
    expect((await issue()).status).toBe(200)
    const { code, verifier } = await getCode(t.issuer, 'public-app')
    const exchange = () => dpop.post(t.url('/token'), codeForm('public-app', code, verifier))
    hsm.removeTokens()
    let answer: Awaited<ReturnType<typeof issue>>
    try {
      // The signer prepares an idle session's C_SignInit while a signature runs, and SoftHSM2's
      // "removal" here is a moved directory that an operation already prepared does not see: so
      // one more token may be signed by it (a real token's removal ends its sessions). The next
      // signature needs C_SignInit, which reads the token, and fails.
      answer = await issue()
      if (answer.status === 200) answer = await issue()
      expect(answer.status).toBe(503)
      expect(answer.body.error).toBe('temporarily_unavailable')
      expect(answer.headers.get('retry-after')).toBe('1')
      expect(JSON.stringify(answer.body)).not.toContain(PIN)
      // The code exchange fails the same way and does not consume the code.
      const refused = await exchange()
      expect(refused.status).toBe(503)
      expect(refused.body.error).toBe('temporarily_unavailable')
    } finally {
      hsm.reinsertTokens()
    }
    // The signer waits about a second between reconnection attempts: a bounded number of tries.
    for (let attempt = 0; attempt < 40; attempt++) {
      answer = await issue()
      if (answer.status === 200) break
      expect(answer.status).toBe(503)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(answer.status).toBe(200)
    const validator = jwtAccessTokens({
      issuer: t.issuer,
      audience: t.issuer,
      jwksUri: t.url('/jwks'),
    })
    expect((await validator.validate(answer.body.access_token)).clientId).toBe('service')
    const exchanged = await exchange()
    expect(exchanged.status).toBe(200)
    expect(exchanged.body.refresh_token).toEqual(expect.any(String))
  })
})

describe('keybound-as rotate-keys with signing.pkcs11', () => {
  const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

  function rotateKeys(configPath: string): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, 'rotate-keys', '--config', configPath],
        {
          env: {
            PATH: process.env.PATH ?? '',
            SOFTHSM2_CONF: process.env.SOFTHSM2_CONF!,
            [PIN_ENV]: PIN,
          },
        },
        (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: stdout + stderr }),
      )
    })
  }

  async function kidsOf(db: Awaited<ReturnType<typeof openDatabase>>['db']) {
    const rows = await db
      .selectFrom('kb_signing_keys')
      .select(['kid', 'retired_at', 'private_jwk'])
      .execute()
    return rows.map((row) => ({
      kid: row.kid,
      active: row.retired_at === null,
      label: JSON.parse(row.private_jwk).pkcs11?.label as string | undefined,
    }))
  }

  it('creates the next key on the token and keeps the previous one published', async () => {
    const fresh = await freshStorage('sqlite')
    try {
      const config = {
        ...(await baseConfig()),
        storage: fresh.storage,
        signing: pkcs11Signing('as'),
      }
      const first = await createAuthorizationServer(config, { logger: false as never, env: {} })
      await first.close()
      const configPath = join(fresh.storage.dataDir!, 'as.json')
      await writeFile(configPath, JSON.stringify(config))
      const rotated = await rotateKeys(configPath)
      expect(rotated).toMatchObject({
        code: 0,
        output: expect.stringContaining('signing key rotated'),
      })
      const { db } = await openDatabase(fresh.storage as never)
      try {
        const keys = await kidsOf(db)
        expect(keys).toHaveLength(2)
        expect(keys.filter((key) => key.active)).toHaveLength(1)
        for (const key of keys) expect(key.label).toBe(`as-signing-${key.kid}`)
      } finally {
        await db.destroy()
      }
      // The server signs with the new key (found on the token) and publishes both.
      const second = await createAuthorizationServer(config, { logger: false as never, env: {} })
      try {
        const issuer = await second.listen()
        const jwks = (await (await fetch(`${issuer}/jwks`)).json()) as { keys: unknown[] }
        expect(jwks.keys).toHaveLength(2)
      } finally {
        await second.close()
      }
    } finally {
      await fresh.cleanup()
    }
  })
})

describe('a token that cannot be used fails the start with a clear error', () => {
  async function start(signing: Record<string, unknown>, storage?: Record<string, string>) {
    const fresh = storage === undefined ? await freshStorage('sqlite') : undefined
    try {
      return await createAuthorizationServer(
        { ...(await baseConfig()), storage: storage ?? fresh!.storage, signing },
        { logger: false as never, env: {} },
      )
    } finally {
      await fresh?.cleanup()
    }
  }

  it('refuses a wrong PIN, naming the setting and not the PIN', async () => {
    process.env[PIN_ENV] = '0000'
    try {
      const failure = await start(pkcs11Signing('fresh')).then(
        (server) => server.close(),
        (error: Error) => error,
      )
      expect(failure?.name).toBe('HsmKeyError')
      expect(failure?.message).toMatch(/^signing\.pkcs11: cannot open the signing key/)
      expect(failure?.message).toMatch(/PIN/)
      expect(failure?.message).not.toContain('0000')
    } finally {
      process.env[PIN_ENV] = PIN
    }
  })

  it('refuses a module that does not exist', async () => {
    const failure = await start(pkcs11Signing('as', '/nonexistent/libpkcs11.so')).then(
      (server) => server.close(),
      (error: Error) => error,
    )
    expect(failure?.name).toBe('HsmKeyError')
    expect(failure?.message).toContain('/nonexistent/libpkcs11.so')
  })

  it('refuses to start when the active key is not on the token, and does not replace it', async () => {
    const fresh = await freshStorage('sqlite')
    try {
      const first = await start(pkcs11Signing('as'), fresh.storage)
      await first.close()
      const failure = await start(pkcs11Signing('empty'), fresh.storage).then(
        (server) => server.close(),
        (error: Error) => error,
      )
      expect(failure?.name).toBe('HsmKeyError')
      expect(failure?.message).toMatch(/cannot open the signing key "as-signing-/)
      const { db } = await openDatabase(fresh.storage as never)
      try {
        const rows = await db.selectFrom('kb_signing_keys').select('private_jwk').execute()
        expect(rows).toHaveLength(1)
        expect(JSON.parse(rows[0]!.private_jwk)).toEqual({
          pkcs11: { label: expect.stringMatching(/^as-signing-/) },
        })
      } finally {
        await db.destroy()
      }
    } finally {
      await fresh.cleanup()
    }
  })
})
