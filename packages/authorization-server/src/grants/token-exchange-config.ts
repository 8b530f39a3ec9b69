/**
 * The `tokenExchange` settings (RFC 8693): which audiences an exchange may target, which
 * clients may act for which others (delegation rules), how deep an `act` chain may nest, and
 * which outside issuers' access tokens are accepted as subject tokens. Validated by the config
 * kit's one {@link Checker}, like the rest of the configuration: every bad field is named by its
 * path, e.g. `tokenExchange.delegation[0].actor: is not a configured client`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 * @packageDocumentation
 */
import { Checker, URL_RULES, type ConfigObject } from '@keybound/config-kit'
import type { ClientConfig } from '../config.js'
import { checkJwks, checkScope } from '../clients/metadata.js'

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

// A client id, audience or resource: long enough for any URL an operator writes, bounded so
// that a rule cannot make every exchange compare megabytes.
const TARGETS = {
  accepts: (item: string) => item.length <= 2048,
  problem: 'must be a non-empty string of at most 2048 characters',
} as const
const REQUIRED_TARGETS = { ...TARGETS, required: true, nonEmpty: true } as const

// Why a client cannot act in an exchange, or `undefined` when it can.
function actorProblem(actor: string, clients: readonly ClientConfig[]): string | undefined {
  const client = clients.find((candidate) => candidate.client_id === actor)
  if (client === undefined) return 'is not a configured client'
  if (!client.grant_types.includes(TOKEN_EXCHANGE_GRANT))
    return `the client's grant_types lack ${TOKEN_EXCHANGE_GRANT}`
  return undefined
}

function checkRule(
  checker: Checker,
  value: unknown,
  path: string,
  clients: readonly ClientConfig[],
): DelegationRule | undefined {
  const rule = checker.object(value, path)
  if (rule === undefined) return undefined
  const before = checker.issues.length
  const actor = checker.required(rule.actor, `${path}.actor`)
  const problem = actor === undefined ? undefined : actorProblem(actor, clients)
  if (problem !== undefined) checker.fail(`${path}.actor`, problem)
  const subjectClients = checker.strings(
    rule.subjectClients,
    `${path}.subjectClients`,
    REQUIRED_TARGETS,
  )
  const audiences = checker.strings(rule.audiences, `${path}.audiences`, REQUIRED_TARGETS)
  const scope =
    rule.scope === undefined ? undefined : checkScope(checker, rule.scope, `${path}.scope`)
  if (checker.issues.length > before || actor === undefined) return undefined
  return {
    actor,
    subjectClients: subjectClients ?? [],
    audiences: audiences ?? [],
    ...(scope === undefined ? {} : { scope }),
  }
}

// `''` is a deliberate setting (both servers share one user directory), so it is allowed here
// although the kit's strings must not be blank.
function checkSubjectPrefix(
  checker: Checker,
  value: unknown,
  path: string,
  issuer: string | undefined,
): string {
  if (value === undefined) return issuer === undefined ? '' : `${issuer}#`
  if (typeof value === 'string' && value.length <= 256) return value
  checker.fail(path, 'must be a string of at most 256 characters')
  return ''
}

function checkTrustedIssuer(
  checker: Checker,
  value: unknown,
  path: string,
): TrustedIssuerConfig | undefined {
  const entry = checker.object(value, path)
  if (entry === undefined) return undefined
  const before = checker.issues.length
  const issuer = checker.url(entry.issuer, `${path}.issuer`, URL_RULES.issuer)
  // https outside loopback: keys fetched over plain http could be swapped on the way.
  const jwksUri =
    entry.jwksUri === undefined
      ? undefined
      : checker.url(entry.jwksUri, `${path}.jwksUri`, URL_RULES.redirect)
  const jwks = checkJwks(checker, entry.jwks, `${path}.jwks`)
  checker.exactlyOne(entry, path, ['jwksUri', 'jwks'])
  const audience = checker.string(entry.audience, `${path}.audience`)
  const algorithms = checker.listOf(entry.algorithms, `${path}.algorithms`, TRUSTED_ALGORITHMS, [
    ...TRUSTED_ALGORITHMS,
  ])
  const subjectPrefix = checkSubjectPrefix(
    checker,
    entry.subjectPrefix,
    `${path}.subjectPrefix`,
    issuer,
  )
  if (checker.issues.length > before || issuer === undefined) return undefined
  return {
    issuer,
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(jwks === undefined ? {} : { jwks }),
    ...(audience === undefined ? {} : { audience }),
    algorithms,
    subjectPrefix,
  }
}

// A duplicate is named at its own index in the file, not at its place among the good entries.
function checkTrustedIssuers(checker: Checker, settings: ConfigObject): TrustedIssuerConfig[] {
  const seen = new Set<string>()
  return checker.list(settings.trustedIssuers, 'tokenExchange.trustedIssuers', (item, path) => {
    const entry = checkTrustedIssuer(checker, item, path)
    if (entry === undefined) return undefined
    if (seen.has(entry.issuer)) return checker.fail(`${path}.issuer`, 'is listed twice')
    seen.add(entry.issuer)
    return entry
  })
}

/**
 * Validates the `tokenExchange` section; each problem is recorded on `checker` as
 * `path: problem`. `clients` are the validated clients, so that a rule's `actor` can be checked
 * against them.
 * @example
 * ```ts
 * const checker = new Checker()
 * const settings = checkTokenExchange(checker, { audiences: ['https://api.example.com'] }, [])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export function checkTokenExchange(
  checker: Checker,
  value: unknown,
  clients: readonly ClientConfig[],
): TokenExchangeConfig {
  const settings = checker.optionalObject(value, 'tokenExchange')
  return {
    audiences: checker.strings(settings.audiences, 'tokenExchange.audiences', TARGETS) ?? [],
    delegation: checker.list(settings.delegation, 'tokenExchange.delegation', (item, path) =>
      checkRule(checker, item, path, clients),
    ),
    maxActDepth: checker.integer(settings.maxActDepth, 'tokenExchange.maxActDepth', 2, 1, 8),
    trustedIssuers: checkTrustedIssuers(checker, settings),
  }
}
