/**
 * The demo page: sign in with authorization code + PKCE + `dpop_jkt` (the key is a
 * non-extractable WebCrypto key in IndexedDB), call the API with DPoP, look at each proof and
 * token, then play the attacker. Tokens live in `sessionStorage` so a reload keeps the session;
 * they are useless without the key, which never leaves the browser.
 * @packageDocumentation
 */
import {
  createBrowserKeyStore,
  createTokenClient,
  discover,
  LoginRequired,
  OAuthResponseError,
  type AuthorizationRequest,
  type AuthorizationServerMetadata,
  type DPoPFetch,
  type TokenClient,
  type TokenSet,
} from '@keybound/client'
import { findCaptured, runAttack, type AttackName, type AttackOutcome } from './attacks.js'
import { decodeJwt, renderJson } from './jwt-view.js'
import { createTimeline, type Timeline } from './timeline.js'

interface PageConfig {
  issuer: string
  apiUrl: string
  clientId: string
  scope: string
  redirectUri: string
}

interface Session {
  tokens: TokenClient
  api: DPoPFetch
  jkt: string
}

const TOKENS_KEY = 'keybound-demo:tokens'
const PENDING_KEY = 'keybound-demo:authorization-request'
const ATTACKS: AttackName[] = ['bearer', 'own-key', 'replay', 'other-url']

function element<T extends HTMLElement>(selector: string): T {
  const found = document.querySelector<T>(selector)
  if (found === null) throw new Error(`the page has no ${selector}`)
  return found
}

function readConfig(): PageConfig {
  return JSON.parse(element('#config').textContent ?? '{}') as PageConfig
}

function readStored<T>(name: string): T | undefined {
  const text = sessionStorage.getItem(name)
  return text === null ? undefined : (JSON.parse(text) as T)
}

const config = readConfig()
const timeline: Timeline = createTimeline(element<HTMLOListElement>('#timeline'))
const clientFetch = timeline.fetchAs('client')
// A database of its own, so signing out can delete exactly this page's key.
const keyStore = createBrowserKeyStore({ database: 'keybound-demo', name: 'dpop-key' })
let metadata: AuthorizationServerMetadata | undefined
let session: Session | undefined

function setStatus(text: string, tone: 'ok' | 'bad' | '' = ''): void {
  const status = element('#status')
  status.textContent = text
  status.className = tone
}

async function getMetadata(): Promise<AuthorizationServerMetadata> {
  metadata ??= await discover(config.issuer, { fetch: clientFetch })
  return metadata
}

async function openSession(): Promise<Session> {
  // Loads the key from IndexedDB, or makes it (non-extractable) on first use.
  const key = await keyStore.getKey()
  const tokens = createTokenClient({
    metadata: await getMetadata(),
    clientId: config.clientId,
    key,
    fetch: clientFetch,
  })
  return { tokens, api: tokens.createFetch(), jkt: await tokens.jkt() }
}

function saveTokens(): void {
  const tokens = session?.tokens.tokens
  if (tokens === undefined) sessionStorage.removeItem(TOKENS_KEY)
  else sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens))
}

async function signIn(): Promise<void> {
  session = await openSession()
  // A front-channel request with dpop_jkt (RFC 9449 §10), not PAR, so the binding is visible
  // in the authorization URL.
  const request = await session.tokens.createAuthorizationRequest({
    redirectUri: config.redirectUri,
    scope: config.scope,
    par: false,
    dpopJkt: true,
  })
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(request)) // holds the PKCE verifier
  setStatus('Going to the authorization server…')
  location.assign(request.url)
}

async function finishSignIn(callback: URL): Promise<void> {
  const pending = readStored<AuthorizationRequest>(PENDING_KEY)
  sessionStorage.removeItem(PENDING_KEY)
  // The code is single-use, but keep it out of the address bar and the history anyway.
  history.replaceState(null, '', config.redirectUri)
  if (pending === undefined) throw new Error('no sign-in was started in this tab')
  session = await openSession()
  await session.tokens.handleCallback(callback.searchParams, pending)
  saveTokens()
}

async function revokeRefreshToken(tokens: TokenSet | undefined): Promise<void> {
  const revocation = metadata?.revocation_endpoint
  if (tokens?.refreshToken === undefined || typeof revocation !== 'string') return
  const body = new URLSearchParams({
    token: tokens.refreshToken,
    token_type_hint: 'refresh_token',
    client_id: config.clientId,
  })
  await clientFetch(revocation, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  }).catch(() => undefined)
}

async function signOut(): Promise<void> {
  await revokeRefreshToken(session?.tokens.tokens)
  session?.tokens.setTokens(undefined)
  session = undefined
  sessionStorage.removeItem(TOKENS_KEY)
  sessionStorage.removeItem(PENDING_KEY)
  await keyStore.delete() // the key is gone: even a copied refresh token is now useless
  element('#attack-results').replaceChildren()
  element('#inspector').hidden = true
  render()
  setStatus('Signed out. The key was deleted from IndexedDB and the tokens forgotten.')
  element('#sign-in').focus()
}

// The user's own locale and time zone, with the zone named: "Dec 7, 2026, 3:05:12 AM UTC".
const EXPIRY_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' })

function describeDuration(seconds: number): string {
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min` : `${seconds} s`
}

function describeExpiry(expiresAt: number, now: number): string {
  const seconds = Math.round((expiresAt - now) / 1000)
  const relative =
    seconds >= 0 ? `in ${describeDuration(seconds)}` : `expired ${describeDuration(-seconds)} ago`
  return `${EXPIRY_FORMAT.format(new Date(expiresAt))} (${relative})`
}

function renderExpiry(): void {
  const expiresAt = session?.tokens.tokens?.expiresAt
  const target = element('#token-expiry')
  if (expiresAt === undefined) {
    target.textContent = 'unknown'
    return
  }
  const time = document.createElement('time')
  time.dateTime = new Date(expiresAt).toISOString()
  time.textContent = describeExpiry(expiresAt, Date.now())
  target.replaceChildren(time)
}

function accessTokenClaims(): Record<string, unknown> | undefined {
  const token = session?.tokens.tokens?.accessToken
  return token === undefined ? undefined : decodeJwt(token)?.payload
}

function render(): void {
  const signedIn = session?.tokens.tokens !== undefined
  element('#signed-out').hidden = signedIn
  element('#signed-in').hidden = !signedIn
  element('#attacks').hidden = !signedIn
  if (!signedIn || session === undefined) return
  const claims = accessTokenClaims()
  const cnf = claims?.cnf as { jkt?: string } | undefined
  element('#subject').textContent = String(claims?.sub ?? '?')
  element('#key-jkt').textContent = session.jkt
  const tokenJkt = element('#token-jkt')
  tokenJkt.textContent = `${cnf?.jkt ?? '(none)'} ${cnf?.jkt === session.jkt ? '✓ the same key' : '✗ another key'}`
  tokenJkt.className = cnf?.jkt === session.jkt ? 'ok' : 'bad'
  renderExpiry()
  // The token panel always shows the token the next call will send (new after a refresh).
  renderJson(element('#token-claims'), claims ?? {}, ['cnf', 'cnf.jkt'])
}

interface NotesBody {
  notes?: Array<{ text: string }>
}

function renderNotes(notes: Array<{ text: string }>): void {
  const list = element('#notes')
  list.replaceChildren(
    ...notes.map((note) => {
      const item = document.createElement('li')
      item.textContent = note.text
      return item
    }),
  )
}

// The notes belong to the session view: loaded on sign-in and after a reload, quietly (the call
// is in the timeline; the inspector and the status stay for what the user did).
async function loadNotes(): Promise<void> {
  if (session?.tokens.tokens === undefined) return
  const response = await session.api(`${config.apiUrl}/api/notes`)
  saveTokens() // a refresh may have happened on the way
  if (!response.ok) throw new Error(`GET /api/notes: HTTP ${response.status}`)
  renderNotes(((await response.json()) as NotesBody).notes ?? [])
}

function showLastCall(url: string, body: string): void {
  const entry = timeline.last(
    (candidate) =>
      candidate.actor === 'client' && candidate.url === url && candidate.error !== 'use_dpop_nonce',
  )
  if (entry?.decodedProof === undefined) return
  element('#inspector').hidden = false
  renderJson(element('#proof-header'), { ...entry.decodedProof.header, '(jkt)': entry.proofJkt }, [
    'jwk',
    '(jkt)',
  ])
  renderJson(element('#proof-claims'), entry.decodedProof.payload, ['htm', 'htu', 'ath', 'nonce'])
  let shown = body
  try {
    shown = JSON.stringify(JSON.parse(body), null, 2)
  } catch {
    // not JSON: show as is
  }
  element('#response').textContent = `HTTP ${entry.status}\n\n${shown}`
}

async function callApi(method: 'GET' | 'POST', path: string, json?: unknown): Promise<unknown> {
  if (session === undefined) throw new LoginRequired('sign in first')
  const url = `${config.apiUrl}${path}`
  const response = await session.api(url, {
    method,
    ...(json === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
  })
  saveTokens() // a refresh may have happened on the way
  const body = await response.text()
  showLastCall(url, body)
  render()
  setStatus(`${method} ${path}: HTTP ${response.status}`, response.ok ? 'ok' : 'bad')
  return response.ok ? (JSON.parse(body) as unknown) : undefined
}

function renderAttack(outcome: AttackOutcome): HTMLLIElement {
  const item = document.createElement('li')
  item.className = 'attack'
  item.dataset.attack = outcome.name
  item.dataset.status = String(outcome.status)
  const title = document.createElement('h3')
  title.textContent = outcome.title
  const sent = document.createElement('p')
  sent.textContent = outcome.sent
  const verdict = document.createElement('p')
  const refused = outcome.status === 401
  verdict.className = `verdict ${refused ? 'ok' : 'bad'}`
  verdict.textContent = refused
    ? `Refused: HTTP 401, error ${outcome.error ?? '(none)'}`
    : `HTTP ${outcome.status}: this must never be accepted`
  const header = document.createElement('pre')
  header.className = 'www-authenticate'
  header.textContent = `WWW-Authenticate: ${outcome.wwwAuthenticate ?? '(missing)'}`
  const why = document.createElement('p')
  why.textContent = outcome.why
  item.append(title, sent, verdict, header, why)
  return item
}

async function attack(names: AttackName[]): Promise<void> {
  let captured = findCaptured(timeline, config.apiUrl)
  if (captured === undefined) {
    // Nothing to steal yet: let the client make a call the attacker can capture.
    await callApi('GET', '/api/notes')
    captured = findCaptured(timeline, config.apiUrl)
  }
  if (captured === undefined) throw new Error('no successful API call to capture')
  const results = element('#attack-results')
  for (const name of names) {
    const outcome = await runAttack(name, captured, config.apiUrl, timeline)
    results.querySelector(`[data-attack="${name}"]`)?.remove()
    results.append(renderAttack(outcome))
  }
  setStatus(`${names.length === 1 ? 'The attempt was' : 'All attempts were'} refused by the API.`)
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code
    return code === undefined ? error.message : `${code}: ${error.message}`
  }
  return String(error)
}

// The server's own words for a failed authorization (its error code and description). They are
// shown only after the client checked the response's iss and state, so a link someone else
// made cannot put text here.
function describeSignInError(error: unknown): string {
  if (!(error instanceof OAuthResponseError)) return describeError(error)
  const description = error.errorDescription === undefined ? '' : `: ${error.errorDescription}`
  return `the authorization server answered ${error.error}${description}`
}

// Runs one user action at a time, with the buttons disabled and errors shown in the status.
async function act(action: () => Promise<unknown>): Promise<void> {
  const buttons = Array.from(document.querySelectorAll<HTMLButtonElement>('main button'))
  for (const button of buttons) button.disabled = true
  try {
    await action()
  } catch (error) {
    if (error instanceof LoginRequired) {
      session = undefined
      sessionStorage.removeItem(TOKENS_KEY)
      render()
    }
    setStatus(describeError(error), 'bad')
  } finally {
    for (const button of buttons) button.disabled = false
  }
}

function wire(): void {
  element('#sign-in').addEventListener('click', () => void act(signIn))
  element('#sign-in-again').addEventListener('click', () => void act(signIn))
  element('#sign-out').addEventListener('click', () => void act(signOut))
  element('#call-me').addEventListener('click', () => void act(() => callApi('GET', '/api/me')))
  element('#load-notes').addEventListener('click', () =>
    act(async () => {
      const body = (await callApi('GET', '/api/notes')) as NotesBody | undefined
      if (body?.notes !== undefined) renderNotes(body.notes)
    }),
  )
  element('#refresh').addEventListener('click', () =>
    act(async () => {
      await session?.tokens.refresh()
      saveTokens()
      render()
      setStatus(
        'Tokens refreshed with the same key: the new access token has the same cnf.jkt.',
        'ok',
      )
    }),
  )
  element<HTMLFormElement>('#note-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const input = element<HTMLInputElement>('#note-text')
    void act(async () => {
      const body = (await callApi('POST', '/api/notes', { text: input.value })) as
        NotesBody | undefined
      if (body?.notes !== undefined) {
        renderNotes(body.notes)
        input.value = ''
      }
      input.focus()
    })
  })
  for (const name of ATTACKS) {
    element(`button[data-attack="${name}"]`).addEventListener(
      'click',
      () => void act(() => attack([name])),
    )
  }
  element('#attack-all').addEventListener('click', () => void act(() => attack(ATTACKS)))
  element('#clear-timeline').addEventListener('click', () => timeline.clear())
}

// The tokens kept in this tab, with the key from IndexedDB; false when there are none.
async function restoreSession(): Promise<boolean> {
  const stored = readStored<TokenSet>(TOKENS_KEY)
  if (stored === undefined) return false
  session ??= await openSession()
  session.tokens.setTokens(stored)
  return true
}

// A failed authorization response: say what the server answered, and keep the session this tab
// already had (the failed attempt changed nothing about it); Sign in stays offered either way.
async function showFailedSignIn(error: unknown): Promise<void> {
  const restored = await restoreSession()
  if (!restored) session = undefined
  render()
  if (restored) await loadNotes()
  const after = restored
    ? 'The session you had is still valid; Sign in again to retry.'
    : 'Sign in to try again.'
  setStatus(`Sign-in failed: ${describeSignInError(error)}. ${after}`, 'bad')
  element('#session-title').focus()
}

async function start(): Promise<void> {
  wire()
  const here = new URL(location.href)
  if (here.searchParams.has('code') || here.searchParams.has('error')) {
    try {
      await finishSignIn(here)
    } catch (error) {
      return showFailedSignIn(error)
    }
    render()
    await loadNotes()
    setStatus("Signed in. The access token is bound to this browser's key.", 'ok')
    element('#session-title').focus()
    return
  }
  if (await restoreSession()) {
    render()
    await loadNotes()
    setStatus('Session restored after the reload, with the same key from IndexedDB.', 'ok')
    return
  }
  render()
  setStatus('Signed out.')
}

void act(start).then(() => {
  document.body.dataset.ready = 'true'
})
// "in 4 min" stays true while the page is open.
setInterval(renderExpiry, 15_000)
