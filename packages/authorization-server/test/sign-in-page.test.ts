/**
 * The sign-in and consent pages over HTTP: styled by one inline stylesheet that the page's
 * Content-Security-Policy allows by its SHA-256 hash, never with 'unsafe-inline', and with
 * nothing else allowed to load. The hash is recomputed here from the served bytes, so a style
 * edited without its hash (which a browser would then ignore) fails the test.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, pkce, postForm, REDIRECT, startServer, type TestServer } from './support.js'

let server: TestServer

beforeAll(async () => {
  server = await startServer('sqlite')
})

afterAll(async () => {
  await server?.close()
})

function authorizeUrl(clientId: string): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    state: 'xyz',
  })
  return server.url(`/authorize?${query}`)
}

function interactionOf(html: string): string {
  return /name="interaction" value="([^"]+)"/.exec(html)![1]!
}

/** Checks the page's style and its policy, and returns the policy's directives by name. */
function expectHashedStyle(html: string, policy: string | null): Map<string, string> {
  expect(policy).not.toBeNull()
  expect(policy).not.toContain('unsafe-inline')
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((match) => match[1]!)
  expect(styles).toHaveLength(1)
  expect(styles[0]).toMatch(/button\{[^}]*background:#0b5cad/)
  expect(html).not.toMatch(/ style=|<link|<script|<img/)
  const directives = new Map(
    policy!.split(';').map((part) => {
      const [name, ...values] = part.trim().split(/\s+/)
      return [name!, values.join(' ')]
    }),
  )
  const hash = createHash('sha256').update(styles[0]!).digest('base64')
  expect(directives.get('style-src')).toBe(`'sha256-${hash}'`)
  expect(directives.get('default-src')).toBe("'none'")
  return directives
}

describe('the sign-in page', () => {
  it('is styled by a stylesheet its CSP allows by hash, without unsafe-inline', async () => {
    const response = await fetch(authorizeUrl('public-app'))
    expect(response.status).toBe(200)
    const html = await response.text()
    const directives = expectHashedStyle(html, response.headers.get('content-security-policy'))
    expect(directives.get('form-action')).toBe(`'self' ${new URL(REDIRECT).origin}`)
    expect(directives.get('frame-ancestors')).toBe("'none'")
    // Labelled fields: a screen reader names each one.
    expect(html).toContain('<label for="username">Username</label><input id="username"')
    expect(html).toContain('<label for="password">Password</label><input id="password"')
    expect(html).toContain(`<p class="issuer">${server.issuer}</p>`)
  })

  it('keeps the style and the policy on a failed attempt, with the error announced', async () => {
    const start = await fetch(authorizeUrl('public-app'))
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!
    const answer = await postForm(
      server.url('/authorize/login'),
      { interaction: interactionOf(await start.text()), username: 'alice', password: 'wrong' },
      { cookie },
    )
    expect(answer.status).toBe(401)
    expectHashedStyle(answer.text, answer.headers.get('content-security-policy'))
    expect(answer.text).toContain('<p class="error" role="alert">Invalid username or password.</p>')
  })
})

describe('the consent page', () => {
  it('has the same style and policy, and escapes the client name', async () => {
    const start = await fetch(authorizeUrl('third-party'))
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!
    const answer = await postForm(
      server.url('/authorize/login'),
      { interaction: interactionOf(await start.text()), username: 'alice', password: PASSWORD },
      { cookie },
    )
    expect(answer.status).toBe(200)
    expect(answer.text).toContain('<title>Allow access</title>')
    expectHashedStyle(answer.text, answer.headers.get('content-security-policy'))
    expect(answer.text).toContain('<strong>Third &#60;Party&#62;</strong>')
    expect(answer.text).toContain('value="allow">Allow</button>')
  })
})
