/**
 * The request timeline: a `fetch` wrapper that records every request the page makes (who made
 * it, the decoded proof, the response, nonce challenges and the retries that answer them) and
 * shows each as an expandable entry.
 * @packageDocumentation
 */
import { parseWwwAuthenticate, type FetchLike } from '@keybound/client'
import { calculateJwkThumbprint, type PublicJwk } from '@keybound/core'
import { abbreviate, decodeJwt, renderJson, type DecodedJwt } from './jwt-view.js'

/** Who sent a request. */
export type Actor = 'client' | 'attacker'

/** One request and its answer. */
export interface TimelineEntry {
  readonly id: number
  readonly actor: Actor
  readonly method: string
  readonly url: string
  /** `DPoP`, `Bearer` or `none`: the `Authorization` scheme sent. */
  readonly scheme: string
  /** The raw headers the attacker could capture (the page is a demo: it shows them). */
  readonly authorization: string | undefined
  readonly proof: string | undefined
  readonly decodedProof: DecodedJwt | undefined
  /** Thumbprint of the proof's `jwk`. */
  readonly proofJkt: string | undefined
  /** `grant_type` of a token request. */
  readonly grantType: string | undefined
  readonly status: number
  readonly wwwAuthenticate: string | undefined
  /** The `error` of the answer: from `WWW-Authenticate` or the JSON body. */
  readonly error: string | undefined
  readonly nonceReceived: boolean
  readonly body: string
  readonly tags: readonly string[]
}

/** The recorder behind the timeline. */
export interface Timeline {
  /** A `fetch` that records what goes through it, as `actor`. */
  fetchAs(actor: Actor): FetchLike
  /** The last entry that matches. */
  last(match: (entry: TimelineEntry) => boolean): TimelineEntry | undefined
  clear(): void
}

const MAX_ENTRIES = 200
const TOKEN_MEMBERS = ['access_token', 'refresh_token', 'id_token']

function errorOf(wwwAuthenticate: string | undefined, body: string): string | undefined {
  if (wwwAuthenticate !== undefined) {
    const challenges = parseWwwAuthenticate(wwwAuthenticate)
    const failed = challenges.find((challenge) => challenge.params.error !== undefined)
    if (failed !== undefined) return failed.params.error
  }
  try {
    const parsed = JSON.parse(body) as { error?: unknown }
    return typeof parsed.error === 'string' ? parsed.error : undefined
  } catch {
    return undefined
  }
}

// Token responses are shown, but abbreviated: the point is the shape, not the bytes.
function displayBody(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>
    for (const name of TOKEN_MEMBERS) {
      if (typeof parsed[name] === 'string') parsed[name] = abbreviate(parsed[name])
    }
    return JSON.stringify(parsed, null, 2)
  } catch {
    return body.slice(0, 2000)
  }
}

async function readGrantType(request: Request): Promise<string | undefined> {
  if (request.method !== 'POST') return undefined
  const type = request.headers.get('content-type') ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded')) return undefined
  return new URLSearchParams(await request.clone().text()).get('grant_type') ?? undefined
}

async function thumbprintOf(decoded: DecodedJwt | undefined): Promise<string | undefined> {
  const jwk = decoded?.header.jwk
  if (typeof jwk !== 'object' || jwk === null) return undefined
  try {
    return await calculateJwkThumbprint(jwk as PublicJwk)
  } catch {
    return undefined
  }
}

function tagsOf(entry: Omit<TimelineEntry, 'tags'>, previous: TimelineEntry | undefined): string[] {
  const tags: string[] = []
  if (entry.grantType !== undefined) tags.push(`${entry.grantType.replace(/_/g, ' ')} grant`)
  if (entry.grantType === 'refresh_token') tags.push('refresh')
  if (
    previous?.error === 'use_dpop_nonce' &&
    previous.actor === entry.actor &&
    previous.method === entry.method &&
    previous.url === entry.url
  ) {
    tags.push('retry with the nonce')
  }
  if (typeof entry.decodedProof?.payload.nonce === 'string') tags.push('proof carries a nonce')
  if (entry.error === 'use_dpop_nonce') tags.push('nonce challenge')
  if (entry.nonceReceived && entry.error !== 'use_dpop_nonce') tags.push('new DPoP-Nonce')
  return tags
}

function renderEntry(entry: TimelineEntry): HTMLLIElement {
  const item = document.createElement('li')
  item.value = entry.id // the request's number, whatever was cleared or dropped before it
  item.className = `entry actor-${entry.actor}`
  item.dataset.status = String(entry.status)
  item.dataset.actor = entry.actor
  if (entry.error !== undefined) item.dataset.error = entry.error
  const details = document.createElement('details')
  const summary = document.createElement('summary')
  const who = document.createElement('span')
  who.className = `tag ${entry.actor}`
  who.textContent = entry.actor
  const status = document.createElement('span')
  status.className = entry.status < 400 ? 'status-ok' : 'status-bad'
  status.textContent = `${entry.status}${entry.error === undefined ? '' : ` ${entry.error}`}`
  const line = document.createElement('span')
  line.className = 'line'
  line.textContent = ` ${entry.method} ${entry.url} (${entry.scheme}) → `
  summary.append(who, line, status)
  for (const tag of entry.tags) {
    const label = document.createElement('span')
    label.className = tag.includes('nonce') ? 'tag nonce' : 'tag'
    label.textContent = tag
    summary.append(label)
  }
  details.append(summary)
  if (entry.decodedProof !== undefined) {
    const heading = document.createElement('h3')
    heading.textContent = `DPoP proof (key jkt ${entry.proofJkt ?? '?'})`
    const pre = document.createElement('pre')
    renderJson(pre, entry.decodedProof, [
      'payload.htm',
      'payload.htu',
      'payload.ath',
      'payload.nonce',
    ])
    details.append(heading, pre)
  }
  const heading = document.createElement('h3')
  heading.textContent = 'Response'
  const response = document.createElement('pre')
  response.textContent = [
    `HTTP ${entry.status}`,
    entry.wwwAuthenticate === undefined ? '' : `WWW-Authenticate: ${entry.wwwAuthenticate}`,
    entry.nonceReceived ? 'DPoP-Nonce: (a new nonce)' : '',
    '',
    displayBody(entry.body),
  ]
    .filter((part, i) => part !== '' || i === 3)
    .join('\n')
  details.append(heading, response)
  item.append(details)
  return item
}

/**
 * Creates the timeline over a list element.
 * @example
 * ```ts
 * const timeline = createTimeline(document.querySelector('#timeline')!)
 * const api = createDPoPFetch({ key, fetch: timeline.fetchAs('client'), accessToken })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export function createTimeline(list: HTMLOListElement): Timeline {
  const entries: TimelineEntry[] = []
  let counter = 0

  async function record(actor: Actor, request: Request, response: Response): Promise<void> {
    const authorization = request.headers.get('authorization') ?? undefined
    const proof = request.headers.get('dpop') ?? undefined
    const decodedProof = proof === undefined ? undefined : decodeJwt(proof)
    const wwwAuthenticate = response.headers.get('www-authenticate') ?? undefined
    const body = await response.clone().text()
    const base = {
      id: ++counter,
      actor,
      method: request.method,
      url: request.url,
      scheme: authorization?.split(' ')[0] ?? (proof === undefined ? 'none' : 'proof only'),
      authorization,
      proof,
      decodedProof,
      proofJkt: await thumbprintOf(decodedProof),
      grantType: await readGrantType(request),
      status: response.status,
      wwwAuthenticate,
      error: errorOf(wwwAuthenticate, body),
      nonceReceived: response.headers.has('dpop-nonce'),
      body,
    }
    const entry: TimelineEntry = { ...base, tags: tagsOf(base, entries.at(-1)) }
    entries.push(entry)
    if (entries.length > MAX_ENTRIES) entries.shift()
    list.prepend(renderEntry(entry))
    while (list.children.length > MAX_ENTRIES) list.lastElementChild?.remove()
  }

  return {
    fetchAs(actor) {
      return async (input, init) => {
        const request = new Request(input, init)
        const response = await fetch(request.clone())
        await record(actor, request, response)
        return response
      }
    },
    last(match) {
      return entries.findLast(match)
    },
    clear() {
      entries.length = 0
      list.replaceChildren()
    },
  }
}
