/**
 * `keybound curl`: a DPoP request from the terminal, like curl, with a fresh proof per request
 * and the nonce challenge answered once (RFC 9449 §8, §9).
 */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { generateKeyPair, type DPoPAlgorithm } from '@keybound/core'
import { algorithmOption } from '../lib/algorithm-option.js'
import { closeProofKey, pinEnvOption, type ProofKey } from '../lib/pkcs11-keys.js'
import { loadProofKey } from '../lib/proof-keys.js'
import { normalizeMethod } from '../lib/methods.js'

interface CurlOptions {
  request?: string
  header: string[]
  data?: string
  token?: string
  key?: string
  alg: DPoPAlgorithm
  pinEnv?: string
  include?: boolean
  verbose?: boolean
  fail?: boolean
  insecureHttp?: boolean
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

function parseHeaders(lines: readonly string[], hasBody: boolean): Headers {
  const headers = new Headers()
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Error(`bad header "${line}": expected "Name: value"`)
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  // As curl does for -d: a form body unless the caller says otherwise (fetch would send a
  // string as text/plain, which form-reading servers ignore).
  if (hasBody && !headers.has('content-type'))
    headers.set('content-type', 'application/x-www-form-urlencoded')
  return headers
}

async function readData(data: string | undefined): Promise<string | undefined> {
  if (data === undefined || !data.startsWith('@')) return data
  return readFile(data.slice(1), 'utf8')
}

async function proofKeyOf(options: CurlOptions): Promise<ProofKey> {
  if (options.key !== undefined) return loadProofKey('curl', options.key, options)
  const key = await generateKeyPair(options.alg)
  process.stderr.write(`* no --key given: using a new ${key.alg} key, jkt ${key.jkt}\n`)
  return key
}

// Shows what crosses the wire in verbose mode, without printing tokens or proofs whole.
function tracingFetch(verbose: boolean): typeof fetch {
  if (!verbose) return fetch
  return async (input, init) => {
    const request = new Request(input, init)
    const proof = request.headers.get('dpop')
    const claims =
      proof === null
        ? undefined
        : (JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString()) as Record<
            string,
            unknown
          >)
    process.stderr.write(`> ${request.method} ${request.url}\n`)
    if (claims !== undefined) {
      process.stderr.write(
        `> DPoP proof: htm ${String(claims.htm)}, htu ${String(claims.htu)}, jti ${String(claims.jti)}${claims.nonce === undefined ? '' : ', with nonce'}${claims.ath === undefined ? '' : ', with ath'}\n`,
      )
    }
    const response = await fetch(request)
    process.stderr.write(`< ${response.status} ${response.statusText}\n`)
    const challenge = response.headers.get('www-authenticate')
    if (challenge !== null) process.stderr.write(`< WWW-Authenticate: ${challenge}\n`)
    if (response.headers.has('dpop-nonce')) process.stderr.write('< DPoP-Nonce: (new nonce)\n')
    return response
  }
}

interface SocketError {
  code?: unknown
  address?: unknown
  port?: unknown
  hostname?: unknown
  message?: unknown
  errors?: unknown
  cause?: unknown
}

// fetch hides the socket error two levels down (NetworkError → TypeError "fetch failed" → the
// errno, DNS or TLS error, or an AggregateError of one per address tried): take the deepest.
function innermostCauseOf(error: unknown): SocketError | undefined {
  let found: SocketError | undefined
  let current = (error as SocketError).cause
  while (typeof current === 'object' && current !== null) {
    found = current as SocketError
    current = Array.isArray(found.errors) && found.errors.length > 0 ? found.errors[0] : found.cause
  }
  return found
}

// A certificate from an issuer Node does not know: a local CA or a self-signed test server,
// which NODE_EXTRA_CA_CERTS fixes (a wrong name or an expired certificate it does not).
const UNTRUSTED_ISSUER =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?)$/

// What went wrong, as short as curl says it: the errno and where, the TLS code and its reason
// with the way to trust a private CA, or the bare reason fetch gave.
function socketCauseOf(error: unknown): string | undefined {
  const cause = innermostCauseOf(error)
  if (cause === undefined) return undefined
  const { code, address, port, hostname, message } = cause
  if (typeof code === 'string' && address !== undefined)
    return `${code} ${String(address)}${port === undefined ? '' : `:${String(port)}`}`
  if (typeof code === 'string' && typeof hostname === 'string') return `${code} ${hostname}`
  if (typeof code === 'string' && UNTRUSTED_ISSUER.test(code))
    return `${code} (${String(message)}): to trust a private CA, set NODE_EXTRA_CA_CERTS=<ca.pem>`
  if (typeof code === 'string') return `${code} (${String(message)})`
  return typeof message === 'string' && message !== '' ? message : undefined
}

// The client's refusals and network failures, said with their cause and the flag that helps.
function explainRequestFailure(error: unknown): Error {
  const { code, message } = error as { code?: unknown; message?: string }
  if (code === 'ERR_DPOP_CLIENT_INSECURE_URL' && (error as { reason?: unknown }).reason === 'http')
    return new Error(`${message}: add --insecure-http to allow it (never in production)`)
  if (code === 'ERR_DPOP_CLIENT_NETWORK') {
    const cause = socketCauseOf(error)
    return new Error(cause === undefined ? String(message) : `${message}: ${cause}`)
  }
  return error as Error
}

const TEXT_TYPE =
  /^(text\/|application\/([\w.-]+\+)?(json|xml)\b|application\/x-www-form-urlencoded)/i

// A text body (JSON error answers above all) gets a final newline so the shell prompt does not
// start on its last line; other bodies are written byte for byte, so redirecting them to a file
// keeps them intact.
function needsFinalNewline(response: Response, body: Buffer): boolean {
  const type = response.headers.get('content-type') ?? ''
  return body.length > 0 && body.at(-1) !== 0x0a && TEXT_TYPE.test(type)
}

/** Registers `curl`. */
export function addCurlCommand(program: Command): void {
  program
    .command('curl')
    .description(
      'make a DPoP request like curl: fresh proof per request, nonce challenges answered once',
    )
    .argument('<url>', 'request URL')
    .option(
      '-X, --request <method>',
      'HTTP method, standard ones in any case (default GET, or POST with --data)',
    )
    .option('-H, --header <header>', 'extra request header "Name: value" (repeatable)', collect, [])
    .option(
      '-d, --data <data>',
      'request body (@file reads a file); sent as application/x-www-form-urlencoded unless -H sets Content-Type',
    )
    .option('-t, --token <token>', 'access token, sent as Authorization: DPoP (adds ath)')
    .option(
      '-k, --key <file>',
      'private key file (JWK or PEM) or pkcs11: URI; a new key when absent',
    )
    .addOption(
      algorithmOption('algorithm for a new key, a key file without alg or a pkcs11: key').default(
        'ES256',
      ),
    )
    .addOption(pinEnvOption())
    .option('-i, --include', 'print the status line and response headers')
    .option(
      '-v, --verbose',
      'show each request, its proof claims, nonce challenges and retries on stderr',
    )
    .option('-f, --fail', 'exit 22 when the response status is 400 or more')
    .option(
      '--insecure-http',
      'allow plain http to hosts other than loopback (never in production)',
    )
    .action(async (url: string, options: CurlOptions) => {
      const key = await proofKeyOf(options)
      try {
        await sendRequest(url, options, key)
      } finally {
        await closeProofKey(key)
      }
    })
}

async function sendRequest(url: string, options: CurlOptions, key: ProofKey): Promise<void> {
  const { createDPoPFetch } = await import('@keybound/client')
  const dpopFetch = createDPoPFetch({
    key,
    fetch: tracingFetch(options.verbose === true),
    ...(options.token === undefined ? {} : { accessToken: options.token }),
    ...(options.insecureHttp ? { allowInsecureHttp: true } : {}),
  })
  const body = await readData(options.data)
  const response = await dpopFetch(url, {
    method: normalizeMethod(options.request ?? (body === undefined ? 'GET' : 'POST')),
    headers: parseHeaders(options.header, body !== undefined),
    ...(body === undefined ? {} : { body }),
  }).catch((error: unknown) => {
    throw explainRequestFailure(error)
  })
  if (options.include) {
    process.stdout.write(`HTTP ${response.status} ${response.statusText}\n`)
    response.headers.forEach((value, name) => process.stdout.write(`${name}: ${value}\n`))
    process.stdout.write('\n')
  }
  const responseBody = Buffer.from(await response.arrayBuffer())
  process.stdout.write(responseBody)
  if (needsFinalNewline(response, responseBody)) process.stdout.write('\n')
  if (options.fail && response.status >= 400) process.exitCode = 22
}
