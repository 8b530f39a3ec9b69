/**
 * The `tokenExchange` settings (RFC 8693): which audiences an exchange may target, which
 * clients may act for which others (delegation rules), how deep an `act` chain may nest, and
 * which outside issuers' access tokens are accepted as subject tokens. Validated like the rest
 * of the configuration: every bad field is named by its path, e.g.
 * `tokenExchange.delegation[0].actor: is not a configured client`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 * @packageDocumentation
 */
import type { ClientConfig } from '../config.js'
import { checkUrl, URL_RULES } from '@keybound/config-kit'

/**
 * The grant type of RFC 8693 §2.1.
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'

/**
 * Algorithms a trusted issuer's tokens may be signed with (asymmetric only, RFC 8725 §3.1).
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
export type TrustedIssuerAlgorithm = 'ES256' | 'ES384' | 'PS256' | 'RS256' | 'EdDSA'

const TRUSTED_ALGORITHMS: readonly TrustedIssuerAlgorithm[] = [
  'ES256',
  'ES384',
  'PS256',
  'RS256',
  'EdDSA',
]

/**
 * An operator's delegation rule: `actor` may exchange access tokens issued to one of
 * `subjectClients` (`*`: any client) for tokens aimed at one of `audiences`. The issued token
 * names the actor in its `act` claim (RFC 8693 §4.1).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-4.1
 */
export interface DelegationRule {
  /** The `client_id` that acts. */
  actor: string
  /**
   * `client_id`s whose tokens it may use; `*` for any client of this server. A trusted issuer's
   * client is named `<issuer>#<client_id>` (its `client_id` or `azp` claim).
   */
  subjectClients: string[]
  /** Targets (`audience` or `resource` values) it may ask for. */
  audiences: string[]
  /** Most the issued token may carry (space-separated); the subject token's scope when left out. */
  scope?: string
}

/**
 * An outside authorization server whose JWT access tokens (RFC 9068) are accepted as subject
 * tokens (RFC 8693 §2.1).
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export interface TrustedIssuerConfig {
  /** Its `iss` value, compared exactly. */
  issuer: string
  /** Where its signing keys are published (JWKS, RFC 7517 §5); or give `jwks` inline. */
  jwksUri?: string
  /** Its public signing keys, inline. */
  jwks?: { keys: Record<string, unknown>[] }
  /** The `aud` its tokens must carry to be exchanged here; defaults to this server's issuer. */
  audience?: string
  /** Accepted `alg` values (default ES256, ES384, PS256, RS256, EdDSA). */
  algorithms: TrustedIssuerAlgorithm[]
  /**
   * Put before its tokens' `sub` in the issued token, so that its users cannot pass for this
   * server's (default `<issuer>#`; `''` only when both share one user directory).
   */
  subjectPrefix: string
}

/**
 * Validated `tokenExchange` settings (RFC 8693).
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2
 */
export interface TokenExchangeConfig {
  /** Logical audiences (RFC 8693 `audience`) any exchange may target besides the configured resources. */
  audiences: string[]
  delegation: DelegationRule[]
  /** How many nested `act` claims an issued token may carry (default 2). */
  maxActDepth: number
  trustedIssuers: TrustedIssuerConfig[]
}

type Input = Record<string, unknown>

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/

function isObject(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// An array (non-empty when required) of non-empty strings; each bad item is named by its index.
function readStrings(value: unknown, path: string, issues: string[], required: boolean): string[] {
  if (value === undefined) {
    if (required) issues.push(`${path}: is required`)
    return []
  }
  // An empty optional list is what validation itself produces, so it must validate again.
  if (!Array.isArray(value) || (required && value.length === 0)) {
    issues.push(`${path}: must be ${required ? 'a non-empty' : 'an'} array`)
    return []
  }
  return value.filter((item, i): item is string => {
    if (typeof item === 'string' && item.length > 0 && item.length <= 2048) return true
    issues.push(`${path}[${i}]: must be a non-empty string`)
    return false
  })
}

function checkRule(
  value: unknown,
  path: string,
  clients: readonly ClientConfig[],
  issues: string[],
): DelegationRule | undefined {
  if (!isObject(value)) {
    issues.push(`${path}: must be an object`)
    return undefined
  }
  const before = issues.length
  const actor = value.actor
  if (typeof actor !== 'string' || actor === '') issues.push(`${path}.actor: is required`)
  else {
    const client = clients.find((candidate) => candidate.client_id === actor)
    if (client === undefined) issues.push(`${path}.actor: is not a configured client`)
    else if (!client.grant_types.includes(TOKEN_EXCHANGE_GRANT))
      issues.push(`${path}.actor: the client's grant_types lack ${TOKEN_EXCHANGE_GRANT}`)
  }
  const subjectClients = readStrings(value.subjectClients, `${path}.subjectClients`, issues, true)
  const audiences = readStrings(value.audiences, `${path}.audiences`, issues, true)
  const scope = value.scope
  if (scope !== undefined && (typeof scope !== 'string' || !SCOPE.test(scope)))
    issues.push(`${path}.scope: must be space-separated scope tokens (RFC 6749 §3.3)`)
  if (issues.length > before) return undefined
  return {
    actor: actor as string,
    subjectClients,
    audiences,
    ...(scope === undefined ? {} : { scope: scope as string }),
  }
}

function checkInlineJwks(value: unknown, path: string, issues: string[]): Input['jwks'] {
  if (!isObject(value) || !Array.isArray(value.keys) || value.keys.length === 0) {
    issues.push(`${path}.keys: must be a non-empty array`)
    return undefined
  }
  value.keys.forEach((key: unknown, i: number) => {
    if (!isObject(key) || !['EC', 'RSA', 'OKP'].includes(key.kty as string))
      issues.push(`${path}.keys[${i}].kty: must be EC, RSA or OKP`)
    else if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in key))
      issues.push(`${path}.keys[${i}]: must be a public key (private members found)`)
  })
  return value
}

function checkUrlField(value: unknown, path: string, issues: string[]): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') {
    issues.push(`${path}: must be a non-empty string`)
    return undefined
  }
  const problem = checkUrl(value, URL_RULES.redirect)
  if (problem !== undefined) issues.push(`${path}: ${problem}`)
  return problem === undefined ? value : undefined
}

function checkAlgorithms(value: unknown, path: string, issues: string[]): TrustedIssuerAlgorithm[] {
  if (value === undefined) return [...TRUSTED_ALGORITHMS]
  const names = readStrings(value, path, issues, true)
  return names.filter((name, i): name is TrustedIssuerAlgorithm => {
    if ((TRUSTED_ALGORITHMS as readonly string[]).includes(name)) return true
    issues.push(`${path}[${i}]: must be one of ${TRUSTED_ALGORITHMS.join(', ')}`)
    return false
  })
}

function checkTrustedIssuer(
  value: unknown,
  path: string,
  issues: string[],
): TrustedIssuerConfig | undefined {
  if (!isObject(value)) {
    issues.push(`${path}: must be an object`)
    return undefined
  }
  const before = issues.length
  const issuer =
    value.issuer === undefined
      ? (issues.push(`${path}.issuer: is required`), undefined)
      : checkUrlField(value.issuer, `${path}.issuer`, issues)
  const jwksUri = checkUrlField(value.jwksUri, `${path}.jwksUri`, issues)
  const jwks =
    value.jwks === undefined ? undefined : checkInlineJwks(value.jwks, `${path}.jwks`, issues)
  if ((value.jwksUri === undefined) === (value.jwks === undefined))
    issues.push(`${path}: needs exactly one of jwksUri and jwks`)
  const audience =
    value.audience === undefined
      ? undefined
      : typeof value.audience === 'string' && value.audience !== ''
        ? value.audience
        : (issues.push(`${path}.audience: must be a non-empty string`), undefined)
  const algorithms = checkAlgorithms(value.algorithms, `${path}.algorithms`, issues)
  const subjectPrefix = value.subjectPrefix ?? (issuer === undefined ? '' : `${issuer}#`)
  if (typeof subjectPrefix !== 'string' || subjectPrefix.length > 256)
    issues.push(`${path}.subjectPrefix: must be a string of at most 256 characters`)
  if (issues.length > before || issuer === undefined) return undefined
  return {
    issuer,
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(jwks === undefined ? {} : { jwks: jwks as TrustedIssuerConfig['jwks'] & object }),
    ...(audience === undefined ? {} : { audience }),
    algorithms,
    subjectPrefix: subjectPrefix as string,
  }
}

function checkList<T>(
  value: unknown,
  path: string,
  issues: string[],
  checkItem: (item: unknown, itemPath: string) => T | undefined,
): T[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    issues.push(`${path}: must be an array`)
    return []
  }
  return value.flatMap((item, i) => {
    const checked = checkItem(item, `${path}[${i}]`)
    return checked === undefined ? [] : [checked]
  })
}

function checkDepth(value: unknown, issues: string[]): number {
  if (value === undefined) return 2
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 8) return value
  issues.push('tokenExchange.maxActDepth: must be a whole number from 1 to 8')
  return 2
}

/**
 * Validates the `tokenExchange` section; problems are appended to `issues` as `path: problem`.
 * `clients` are the validated clients, so that a rule's `actor` can be checked against them.
 * @example
 * ```ts
 * const issues: string[] = []
 * const settings = checkTokenExchange({ audiences: ['https://api.example.com'] }, [], issues)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export function checkTokenExchange(
  value: unknown,
  clients: readonly ClientConfig[],
  issues: string[],
): TokenExchangeConfig {
  const empty: TokenExchangeConfig = {
    audiences: [],
    delegation: [],
    maxActDepth: 2,
    trustedIssuers: [],
  }
  if (value === undefined) return empty
  if (!isObject(value)) {
    issues.push('tokenExchange: must be an object')
    return empty
  }
  const trustedIssuers = checkList(
    value.trustedIssuers,
    'tokenExchange.trustedIssuers',
    issues,
    (item, path) => checkTrustedIssuer(item, path, issues),
  )
  trustedIssuers.forEach((entry, i) => {
    if (trustedIssuers.findIndex((other) => other.issuer === entry.issuer) !== i)
      issues.push(`tokenExchange.trustedIssuers[${i}].issuer: is listed twice`)
  })
  return {
    audiences: readStrings(value.audiences, 'tokenExchange.audiences', issues, false),
    delegation: checkList(value.delegation, 'tokenExchange.delegation', issues, (item, path) =>
      checkRule(item, path, clients, issues),
    ),
    maxActDepth: checkDepth(value.maxActDepth, issues),
    trustedIssuers,
  }
}
