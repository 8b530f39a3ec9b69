/**
 * "Steal the token": an attacker who copied the access token, and even a proof, but does not
 * hold the key, tries four ways to use them against the real API. Each must end in a 401 with
 * a `WWW-Authenticate` challenge saying why.
 * @packageDocumentation
 */
import { createDPoPFetch, createMemoryKeyStore } from '@keybound/client'
import type { Timeline, TimelineEntry } from './timeline.js'

/** The four attempts. */
export type AttackName = 'bearer' | 'own-key' | 'replay' | 'other-url'

/** What the attacker captured from one of the client's successful API calls. */
export interface Captured {
  accessToken: string
  proof: string
  url: string
}

/** How an attempt ended. */
export interface AttackOutcome {
  name: AttackName
  title: string
  /** What the attacker sent, in words. */
  sent: string
  /** Why the API refuses it (RFC 9449 section). */
  why: string
  status: number
  wwwAuthenticate: string | undefined
  error: string | undefined
}

const DESCRIPTIONS: Record<AttackName, { title: string; why: string }> = {
  bearer: {
    title: 'The stolen token as a Bearer token',
    why: 'The token is bound to a key (cnf.jkt), so it is never accepted as Bearer (RFC 9449 §7.2).',
  },
  'own-key': {
    title: "DPoP with the attacker's own key",
    why: "The proof is valid, but its key's thumbprint is not the token's cnf.jkt (RFC 9449 §7.1, §4.3).",
  },
  replay: {
    title: 'The captured proof, replayed',
    why: "The proof's jti was used already; the API remembers it for the whole acceptance window (RFC 9449 §11.1).",
  },
  'other-url': {
    title: 'The captured proof on another URL',
    why: 'htu names the URL the proof was made for; another URL does not match (RFC 9449 §4.3).',
  },
}

/**
 * Finds what an attacker on the wire would have seen last: the token and proof of the client's
 * latest successful `GET` to the API.
 * @example
 * ```ts
 * const captured = findCaptured(timeline, 'http://localhost:4001')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function findCaptured(timeline: Timeline, apiUrl: string): Captured | undefined {
  const entry = timeline.last(
    (candidate: TimelineEntry) =>
      candidate.actor === 'client' &&
      candidate.method === 'GET' &&
      candidate.url.startsWith(`${apiUrl}/api/`) &&
      candidate.status === 200 &&
      candidate.proof !== undefined &&
      candidate.authorization?.startsWith('DPoP ') === true,
  )
  if (entry === undefined) return undefined
  return {
    accessToken: entry.authorization!.slice('DPoP '.length),
    proof: entry.proof!,
    url: entry.url,
  }
}

/**
 * Runs one attempt as the attacker (its requests are recorded as `attacker` in the timeline).
 * @example
 * ```ts
 * const outcome = await runAttack('bearer', captured, apiUrl, timeline)
 * outcome.error // 'invalid_token'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export async function runAttack(
  name: AttackName,
  captured: Captured,
  apiUrl: string,
  timeline: Timeline,
): Promise<AttackOutcome> {
  const attackerFetch = timeline.fetchAs('attacker')
  let response: Response
  let sent: string
  if (name === 'bearer') {
    sent = `GET ${captured.url} with Authorization: Bearer <stolen token>, no proof`
    response = await attackerFetch(captured.url, {
      headers: { authorization: `Bearer ${captured.accessToken}` },
    })
  } else if (name === 'own-key') {
    // A real DPoP client with a key of its own: it even answers nonce challenges.
    const key = await createMemoryKeyStore().getKey()
    const dpopFetch = createDPoPFetch({
      key,
      fetch: attackerFetch,
      accessToken: captured.accessToken,
    })
    sent = `GET ${captured.url} with the stolen token and a fresh proof signed by the attacker's key`
    response = await dpopFetch(captured.url)
  } else {
    const target =
      name === 'replay'
        ? captured.url
        : captured.url.endsWith('/api/me')
          ? `${apiUrl}/api/notes`
          : `${apiUrl}/api/me`
    sent =
      name === 'replay'
        ? `GET ${target} with the stolen token and the captured proof, byte for byte`
        : `GET ${target} with the stolen token and the proof captured for ${captured.url}`
    response = await attackerFetch(target, {
      headers: { authorization: `DPoP ${captured.accessToken}`, dpop: captured.proof },
    })
  }
  const entry = timeline.last((candidate) => candidate.actor === 'attacker')
  return {
    name,
    ...DESCRIPTIONS[name],
    sent,
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate') ?? undefined,
    error: entry?.error,
  }
}
