/**
 * A real headless Chromium (Debian `chromium`) driven over the DevTools protocol with undici's
 * WebSocket (a dependency of the gateway already), so that CORS is judged by a browser's own
 * rules: which preflight it sends, and which response headers a page may read.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'undici'
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '@keybound/test-kit/chromium'

/** A page in the browser. */
export interface BrowserPage {
  /** Loads `url` and waits until the page's origin is that of `url`. */
  goto(url: string): Promise<void>
  /** Runs `expression` (which may return a promise) in the page; resolves with its JSON value. */
  evaluate<T>(expression: string): Promise<T>
  close(): Promise<void>
}

interface Pending {
  resolve(value: Record<string, unknown>): void
  reject(error: Error): void
}

/** Starts Chromium with a fresh profile and opens one page. */
export async function openBrowserPage(): Promise<BrowserPage> {
  requireChromium()
  const profile = await mkdtemp(join(tmpdir(), 'keybound-gateway-chromium-'))
  const child = spawn(
    CHROMIUM,
    [
      ...CHROMIUM_ARGS,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  try {
    const socket = await connect(await devtoolsUrl(child))
    return await attachPage(socket, async () => {
      socket.close()
      await stop(child)
      await removeProfile(profile)
    })
  } catch (error) {
    await stop(child)
    await removeProfile(profile)
    throw error
  }
}

// Chromium's helper processes can still be writing to the profile just after the browser
// process exits (a run on Node 26 failed with ENOTEMPTY); rm retries on that by itself.
function removeProfile(profile: string): Promise<void> {
  return rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
}

/** The browser's DevTools WebSocket URL, from the line Chromium prints on start. */
function devtoolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(() => reject(new Error('chromium did not start in 30 s')), 30_000)
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      const found = /DevTools listening on (ws:\/\/\S+)/.exec(text)
      if (found !== null) {
        clearTimeout(timer)
        resolve(found[1]!)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`chromium exited (${code})`))
    })
  })
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.addEventListener('open', () => resolve(socket), { once: true })
    socket.addEventListener('error', () => reject(new Error('devtools connection failed')), {
      once: true,
    })
  })
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

async function attachPage(socket: WebSocket, shutdown: () => Promise<void>): Promise<BrowserPage> {
  let nextId = 1
  const pending = new Map<number, Pending>()
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number
      result?: Record<string, unknown>
      error?: { message: string }
    }
    const waiter = message.id === undefined ? undefined : pending.get(message.id)
    if (waiter === undefined) return
    pending.delete(message.id!)
    if (message.error !== undefined) waiter.reject(new Error(message.error.message))
    else waiter.resolve(message.result ?? {})
  })
  function call(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = nextId++
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject })
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }))
    })
  }
  const { targetId } = await call('Target.createTarget', { url: 'about:blank' })
  const { sessionId } = (await call('Target.attachToTarget', { targetId, flatten: true })) as {
    sessionId: string
  }

  async function evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = (await call(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true },
      sessionId,
    )) as { result: { value: T }; exceptionDetails?: { text: string } }
    if (exceptionDetails !== undefined) throw new Error(`page error: ${exceptionDetails.text}`)
    return result.value
  }

  return {
    async goto(url) {
      await call('Page.navigate', { url }, sessionId)
      const origin = new URL(url).origin
      for (let i = 0; i < 200; i++) {
        const state = await evaluate<string>('location.origin + " " + document.readyState')
        if (state === `${origin} complete`) return
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      throw new Error(`page did not load ${url}`)
    },
    evaluate,
    close: shutdown,
  }
}
