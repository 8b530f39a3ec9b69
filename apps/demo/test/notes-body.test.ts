/**
 * The demo API's `POST /api/notes` body, as apps/demo/README.md documents it for terminal users,
 * over real HTTP against the whole demo stack (`serve()` on free loopback ports): demo-service
 * gets a DPoP-bound token with its key file and secret, then each documented answer is checked,
 * the mistakes included. Every mistake is answered `invalid_request` with a description, in the
 * same shape as the API's own refusals, never Fastify's internal error object.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importKeyPair } from '@keybound/core'
import { clientSecretPost, createTokenClient, discover, type DPoPFetch } from '@keybound/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_CLIENTS, serve, type DemoStack } from '../src/index.js'
import { servePorts } from './support/stack.js'

let dataDir: string
let demo: DemoStack
let api: DPoPFetch
let notesUrl: string

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'keybound-demo-notes-'))
  const [asPort, apiPort, pagePort] = await servePorts()
  demo = await serve({ host: 'localhost', asPort, apiPort, pagePort, dataDir, print: () => {} })
  notesUrl = `${demo.urls.api}/api/notes`
  const { serviceKeyFile, serviceSecret } = demo.credentials
  const key = await importKeyPair(JSON.parse(await readFile(serviceKeyFile, 'utf8')))
  const tokens = createTokenClient({
    metadata: await discover(demo.urls.issuer),
    clientId: DEMO_CLIENTS.service,
    clientAuth: clientSecretPost(serviceSecret),
    key,
  })
  await tokens.clientCredentials()
  api = tokens.createFetch()
}, 60_000)

afterAll(async () => {
  await demo?.close()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

async function post(body: string, contentType = 'application/json') {
  const response = await api(notesUrl, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe('POST /api/notes takes the documented body', () => {
  it('answers 201 with the notes, the new one last and trimmed', async () => {
    const answer = await post(JSON.stringify({ text: '  bring milk  ' }))
    expect(answer.status).toBe(201)
    expect(answer.body).toEqual({
      notes: [{ text: 'bring milk', createdAt: expect.any(String) }],
    })
    const longest = await post(JSON.stringify({ text: 'x'.repeat(280) }))
    expect(longest.status).toBe(201)
  })

  it.each([
    ['no text', '{}'],
    ['empty text', '{"text":""}'],
    ['only spaces', '{"text":"   "}'],
    ['281 characters', JSON.stringify({ text: 'x'.repeat(281) })],
    ['text not a string', '{"text":5}'],
    ['JSON null', 'null'],
  ])('refuses %s with 400 invalid_request naming text', async (_, body) => {
    expect(await post(body)).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: '"text" must be 1 to 280 characters' },
    })
  })

  it('refuses a body that is not JSON with 400 invalid_request', async () => {
    expect(await post('{"text":')).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'the body is not valid JSON' },
    })
  })

  it('refuses a body over 4 KiB with 413 invalid_request', async () => {
    expect(await post(JSON.stringify({ text: 'x'.repeat(5000) }))).toEqual({
      status: 413,
      body: { error: 'invalid_request', error_description: 'the body is over 4096 bytes' },
    })
  })

  it("refuses a form body (curl -d's default) with 415 naming the JSON content type", async () => {
    expect(await post('text=hello', 'application/x-www-form-urlencoded')).toEqual({
      status: 415,
      body: {
        error: 'invalid_request',
        error_description: 'send the body as JSON, with the header Content-Type: application/json',
      },
    })
  })
})
