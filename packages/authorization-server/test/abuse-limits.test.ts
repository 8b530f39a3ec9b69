/**
 * Rate limits that hold against a determined attacker, over real HTTP on 127.0.0.1: sign-in
 * guesses counted before the password is checked (so concurrency gets no extra guesses), the
 * real client address behind a trusted proxy (`trustProxy`), the per-client `/token` budget
 * under the decoded client id, and failed client authentications counted apart from the
 * client's own requests so that guessers cannot starve a client that authenticates.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/index.js'
import {
  basic,
  Dpop,
  PASSWORD,
  pkce,
  postForm,
  REDIRECT,
  SECRET,
  startServer,
  type TestServer,
} from './support.js'

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

function authorizeQuery(): string {
  return new URLSearchParams({
    response_type: 'code',
    client_id: 'public-app',
    redirect_uri: REDIRECT,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
  }).toString()
}

/** Opens a sign-in interaction: its id and the browser cookie it is bound to. */
async function openSignIn(
  headers: Record<string, string> = {},
): Promise<{ interaction: string; cookie: string }> {
  const page = await fetch(server!.url(`/authorize?${authorizeQuery()}`), { headers })
  expect(page.status).toBe(200)
  const interaction = /name="interaction" value="([^"]+)"/.exec(await page.text())![1]!
  return { interaction, cookie: page.headers.get('set-cookie')!.split(';')[0]! }
}

function signIn(
  session: { interaction: string; cookie: string },
  username: string,
  password: string,
  headers: Record<string, string> = {},
) {
  return postForm(
    server!.url('/authorize/login'),
    { interaction: session.interaction, username, password },
    { cookie: session.cookie, ...headers },
  )
}

const from = (address: string) => ({ 'x-forwarded-for': address })

describe('sign-in guesses', () => {
  // 100 sign-ins sent at once with a limit of 10: wrong passwords, and alice's right one at 61.
  it.each([
    ['login.max (one user)', 'login', () => 'alice'],
    ['loginIp.max (100 users, one address)', 'loginIp', (i: number) => `user${i}`],
  ] as const)(
    'checks at most %s passwords of 100 sent at once; the right one at 61 is refused',
    async (_, limit, username) => {
      server = await startServer('sqlite', {
        rateLimits: { [limit]: { max: 10, windowSeconds: 300 } },
      })
      const session = await openSignIn()
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          i === 60
            ? signIn(session, 'alice', PASSWORD)
            : signIn(session, username(i), `wrong ${i}`),
        ),
      )
      const checked = answers.filter((answer) => answer.status === 401)
      expect(checked.length).toBeLessThanOrEqual(10)
      expect(answers.filter((answer) => answer.status === 429).length).toBe(100 - checked.length)
      expect(answers[60]!.status).toBe(429)
      expect(answers.some((answer) => answer.status === 303)).toBe(false)
    },
  )

  it('a successful sign-in does not use up the budget', async () => {
    server = await startServer('sqlite', { rateLimits: { login: { max: 2, windowSeconds: 300 } } })
    for (let i = 0; i < 4; i++) {
      const answer = await signIn(await openSignIn(), 'alice', PASSWORD)
      expect(answer.status).toBe(303)
    }
  })
})

describe('trustProxy', () => {
  // Three failed sign-ins (loginIp.max) claiming to come from `addresses` in turn, then alice's
  // right password from another claimed address: its status.
  async function signInAfterFailures(trustProxy: string[], addresses: string[]): Promise<number> {
    server = await startServer('sqlite', {
      trustProxy,
      rateLimits: { loginIp: { max: 3, windowSeconds: 300 } },
    })
    const session = await openSignIn()
    for (let i = 0; i < 3; i++) {
      const failed = await signIn(
        session,
        `user${i}`,
        'guess',
        from(addresses[i % addresses.length]!),
      )
      expect(failed.status).toBe(401)
    }
    return (await signIn(session, 'alice', PASSWORD, from('198.51.100.2'))).status
  }

  it("behind a trusted proxy, one address's failures do not lock out another's sign-in", async () => {
    expect(await signInAfterFailures(['127.0.0.1'], ['203.0.113.7'])).toBe(303)
  })

  it('from an untrusted peer, X-Forwarded-For is ignored', async () => {
    const addresses = ['203.0.113.1', '203.0.113.2', '203.0.113.3']
    expect(await signInAfterFailures(['10.0.0.0/8'], addresses)).toBe(429)
  })

  it('names every bad trustProxy entry', () => {
    expect(() =>
      resolveConfig({ trustProxy: ['10.0.0.0/8', '::1', 'proxy.local', '10.0.0.0/33', 7] }, {}),
    ).toThrow(
      expect.objectContaining({
        issues: [
          'trustProxy[2]: must be an IP address or CIDR range (10.0.0.0/8)',
          'trustProxy[3]: must be an IP address or CIDR range (10.0.0.0/8)',
          'trustProxy[4]: must be an IP address or CIDR range (10.0.0.0/8)',
        ],
      }),
    )
  })
})

describe('client authentication at /token', () => {
  const credentials = { grant_type: 'client_credentials' }

  it('counts the budget under the decoded client id (%73ervic%65 is service)', async () => {
    server = await startServer('sqlite', {
      rateLimits: { token: { max: 3, windowSeconds: 60 } },
    })
    const dpop = await Dpop.create()
    const statuses: number[] = []
    for (let i = 0; i < 6 && !statuses.includes(429); i++)
      statuses.push((await dpop.post(server.url('/token'), credentials, basic('service'))).status)
    expect(statuses.at(-1)).toBe(429)
    const encoded = {
      authorization: `Basic ${Buffer.from(`%73ervic%65:${SECRET}`).toString('base64')}`,
    }
    const answer = await dpop.post(server.url('/token'), credentials, encoded)
    expect([answer.status, answer.body.error]).toEqual([429, 'temporarily_unavailable'])
  })

  it('wrong secrets naming a client do not use up its token budget', async () => {
    server = await startServer('sqlite', { rateLimits: { token: { max: 20, windowSeconds: 60 } } })
    for (let i = 0; i < 30; i++) {
      const junk = await postForm(
        server.url('/token'),
        credentials,
        basic('service', `wrong-secret-${i}-000000`),
      )
      expect(junk.status).toBe(401)
    }
    const dpop = await Dpop.create()
    const answer = await dpop.post(server.url('/token'), credentials, basic('service'))
    expect(answer.status, answer.text).toBe(200)
  })

  it('junk naming a client from many addresses cannot starve the client that authenticates', async () => {
    server = await startServer('sqlite', {
      trustProxy: ['127.0.0.1'],
      rateLimits: {
        token: { max: 20, windowSeconds: 60 },
        clientAuthFailures: { max: 5, windowSeconds: 60 },
        clientAuthFailuresIp: { max: 3, windowSeconds: 60 },
      },
    })
    const dpop = await Dpop.create()
    const real = from('192.0.2.10')
    const first = await dpop.post(server.url('/token'), credentials, {
      ...basic('service'),
      ...real,
    })
    expect(first.status).toBe(200)
    const junk: number[] = []
    for (let address = 1; address <= 10; address++) {
      for (let i = 0; i < 4; i++) {
        const answer = await postForm(server.url('/token'), credentials, {
          ...basic('service', `wrong-secret-${address}-${i}-00000`),
          ...from(`203.0.113.${address}`),
        })
        junk.push(answer.status)
      }
    }
    // Five failures for the client, then every new address is refused before any check.
    expect(junk.filter((status) => status === 401).length).toBe(5)
    expect(junk.filter((status) => status === 429).length).toBe(35)
    for (let i = 0; i < 3; i++) {
      const answer = await dpop.post(server.url('/token'), credentials, {
        ...basic('service'),
        ...real,
      })
      expect(answer.status, answer.text).toBe(200)
    }
    // A guess from a fresh address is refused unchecked: the per-client limit holds.
    const fresh = await postForm(server.url('/token'), credentials, {
      ...basic('service', 'wrong-secret-fresh-000000'),
      ...from('198.51.100.99'),
    })
    expect(fresh.status).toBe(429)
    // An address over its own failure limit is refused whatever client it names.
    const noisy = await postForm(server.url('/token'), credentials, {
      ...basic('service-post'),
      ...from('203.0.113.1'),
    })
    expect(noisy.status).toBe(429)
  })
})
