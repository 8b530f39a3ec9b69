/**
 * The start-up banner: where everything is, who can sign in, and a `keybound curl` recipe
 * that gets demo-service a DPoP-bound token and calls the API with it.
 * @packageDocumentation
 */
import { relative } from 'node:path'
import type { DemoCredentials } from './credentials.js'

/** What the banner shows. */
export interface BannerInput {
  urls: { issuer: string; api: string; page: string }
  credentials: DemoCredentials
  dataDir: string
  rsNonces: boolean
  /**
   * The APIs the AS issues tokens for (RFC 8707 `resource`): the demo API first, whose URL is
   * also the `aud` of tokens requested without `resource`, then any extra ones.
   */
  resources: readonly string[]
}

// Single quotes for the shell; a path with a quote in it is quoted the POSIX way.
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}

function displayPath(path: string): string {
  const fromHere = relative(process.cwd(), path)
  return fromHere !== '' && !fromHere.startsWith('..') ? fromHere : path
}

/**
 * The shell lines that get demo-service a token (client_credentials with a DPoP proof, the AS
 * nonce challenge answered by `keybound curl`), call the API with it, and post a note.
 * @example
 * ```ts
 * const [getToken, callApi, postNote] = serviceRecipe(urls, credentials)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function serviceRecipe(
  urls: BannerInput['urls'],
  credentials: DemoCredentials,
): [string, string, string] {
  const key = shellQuote(displayPath(credentials.serviceKeyFile))
  const form = `grant_type=client_credentials&client_id=demo-service&client_secret=${credentials.serviceSecret}`
  return [
    `TOKEN=$(npx keybound curl -f -k ${key} -H 'Content-Type: application/x-www-form-urlencoded' ` +
      `-d '${form}' ${urls.issuer}/token | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')`,
    `npx keybound curl -v -k ${key} -t "$TOKEN" ${urls.api}/api/me`,
    `npx keybound curl -k ${key} -t "$TOKEN" -H 'Content-Type: application/json' ` +
      `-d '{"text":"hello from a terminal"}' ${urls.api}/api/notes`,
  ]
}

// Which audience tokens carry, and which other APIs a token request may name.
function describeAudiences(resources: readonly string[]): string {
  const [demoApi, ...extra] = resources
  const others =
    extra.length === 0
      ? 'none; add your own API with --resource <url> (repeatable), e.g. --resource http://localhost:4010'
      : extra
          .map((resource) => `${resource}  (ask with resource=${resource})`)
          .join('\n                        ')
  return `  Access tokens         aud ${demoApi} (the demo API), bound to the caller's DPoP key (cnf.jkt)
  Other APIs (RFC 8707) ${others}`
}

/**
 * Formats the banner printed when the stack is up.
 * @example
 * ```ts
 * process.stdout.write(formatBanner({ urls, credentials, dataDir, rsNonces: true, resources: [urls.api] }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
export function formatBanner(input: BannerInput): string {
  const { urls, credentials } = input
  const users = credentials.users
    .map((user) => `    ${user.username.padEnd(8)} password  ${user.password}`)
    .join('\n')
  const [getToken, callApi, postNote] = serviceRecipe(urls, credentials)
  return `
Keybound demo: DPoP (RFC 9449) end to end

  Demo page             ${urls.page}   <- open this in a browser
  Authorization server  ${urls.issuer}   (AS nonces on, SQLite in ${displayPath(input.dataDir)})
  Demo API              ${urls.api}/api/me  ${urls.api}/api/notes   (RS nonces ${input.rsNonces ? 'on' : 'off'})
${describeAudiences(input.resources)}

  Sign in on the page as
${users}

  Clients
    demo-spa       public browser client: authorization code + PKCE + dpop_jkt, redirect URI ${urls.page}
    demo-service   confidential, client_credentials, DPoP-bound tokens only
                   client_secret ${credentials.serviceSecret}  (client_secret_post)
                   DPoP key ${displayPath(credentials.serviceKeyFile)}

  Try it from a terminal as demo-service: get a token, then call the API with the same key
    ${getToken}
    ${callApi}
  and add a note (JSON {"text": 1 to 280 characters}; answers 201 with your notes)
    ${postNote}

  Ctrl-C stops everything; the data stays in ${displayPath(input.dataDir)} for the next start.

`
}
