/**
 * `keybound proof`, `keybound verify` and `keybound explain`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4
 */
import type { Command } from 'commander'
import { createProof, DPoPError, verifyProof, type DPoPAlgorithm } from '@keybound/core'
import {
  explainProof,
  summarizeChecks,
  type ExplainContext,
  type ExplainedCheck,
} from '../lib/explain-proof.js'
import { algorithmOption } from '../lib/algorithm-option.js'
import { readInput } from '../lib/key-files.js'
import { closeProofKey, pinEnvOption } from '../lib/pkcs11-keys.js'
import { loadProofKey } from '../lib/proof-keys.js'
import { normalizeMethod } from '../lib/methods.js'
import { printResult } from '../lib/output.js'
import { addRequiredOption } from '../lib/required-options.js'

interface RequestOptions {
  method: string
  url: string
  token?: string
  jkt?: string
  nonce?: string
  now?: string
  maxAge: string
  clockTolerance: string
  json?: boolean
}

/** Exit code of `explain` when nothing failed but the request was not described (no -m/-u). */
export const EXIT_INCOMPLETE = 3

const METHOD_HELP = 'HTTP method; GET, POST and the other standard methods in any case'

function addRequestOptions(command: Command, required: boolean): Command {
  const add = (flags: string, description: string) =>
    required ? addRequiredOption(command, flags, description) : command.option(flags, description)
  add('-m, --method <method>', `${METHOD_HELP} (the request's method)`)
  add('-u, --url <url>', 'URL the server was called at (its public URL)')
  return command
    .option('-t, --token <token>', 'access token sent with the request (checks ath)')
    .option('--jkt <jkt>', 'thumbprint the token is bound to (cnf.jkt)')
    .option('--nonce <nonce>', 'the nonce the server expects')
    .option('--now <seconds>', 'server time in seconds since the epoch (default: now)')
    .option('--max-age <seconds>', 'how old iat may be', '60')
    .option('--clock-tolerance <seconds>', 'how far ahead iat may be', '10')
    .option('--json', 'print JSON')
}

async function readProof(proof: string): Promise<string> {
  return (proof === '-' ? await readInput('-') : proof).trim()
}

function contextOf(options: Partial<RequestOptions>): ExplainContext {
  return {
    ...(options.method === undefined ? {} : { method: normalizeMethod(options.method) }),
    ...(options.url === undefined ? {} : { url: options.url }),
    ...(options.token === undefined ? {} : { accessToken: options.token }),
    ...(options.jkt === undefined ? {} : { jkt: options.jkt }),
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    ...(options.now === undefined ? {} : { now: Number(options.now) }),
    maxAge: Number(options.maxAge ?? 60),
    clockTolerance: Number(options.clockTolerance ?? 10),
  }
}

/** Registers `proof`. */
export function addProofCommand(program: Command): void {
  const command = program
    .command('proof')
    .description('sign a DPoP proof for one request and print it')
  addRequiredOption(command, '-k, --key <file>', 'private key file (JWK or PEM) or pkcs11: URI')
  addRequiredOption(command, '-m, --method <method>', `${METHOD_HELP} (signed upper case)`)
  addRequiredOption(command, '-u, --url <url>', 'request URL (query and fragment are stripped)')
  command
    .addOption(
      algorithmOption('algorithm, when the key file does not say (pkcs11: keys: default ES256)'),
    )
    .addOption(pinEnvOption())
    .option('-t, --token <token>', 'access token (adds ath)')
    .option('--nonce <nonce>', 'server nonce')
    .option('--json', 'print the proof with its thumbprint as JSON')
    .action(
      async (options: {
        key: string
        method: string
        url: string
        alg?: DPoPAlgorithm
        token?: string
        nonce?: string
        json?: boolean
        pinEnv?: string
      }) => {
        const key = await loadProofKey('proof', options.key, options)
        const proof = await createProof(key, {
          htm: normalizeMethod(options.method),
          htu: options.url,
          ...(options.token === undefined ? {} : { accessToken: options.token }),
          ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
        }).finally(() => closeProofKey(key))
        printResult(options.json === true, { proof, jkt: key.jkt }, [proof])
      },
    )
}

// The expected and found values of the check core refused on, worded by explain.
async function describeRefusal(proof: string, context: ExplainContext): Promise<ExplainedCheck[]> {
  const checks = await explainProof(proof, context)
  return checks.filter((check) => check.status === 'fail')
}

function refusalLines(error: DPoPError, failing: readonly ExplainedCheck[]): string[] {
  const lines = [`invalid: ${error.code}: ${error.message}`]
  for (const check of failing) {
    lines.push(`  ${check.check}: ${check.detail}`)
    if (check.expected !== undefined) lines.push(`    expected: ${check.expected}`)
    if (check.found !== undefined) lines.push(`    found:    ${check.found}`)
  }
  lines.push('every check and how to fix it: keybound explain, with the same arguments')
  return lines
}

/** Registers `verify`: exit 0 when the proof is valid, 1 with the error code when not. */
export function addVerifyCommand(program: Command): void {
  addRequestOptions(
    program
      .command('verify')
      .description(
        'verify a proof against a request; exits 1 with the error code, the expected and the found values when it is refused',
      )
      .argument('<proof>', 'the proof (- reads stdin)'),
    true,
  ).action(async (proofArgument: string, options: RequestOptions) => {
    const proof = await readProof(proofArgument)
    const context = contextOf(options)
    try {
      const verified = await verifyProof(
        proof,
        { method: context.method!, url: options.url },
        {
          replayStore: false,
          ...(options.token === undefined ? {} : { accessToken: options.token }),
          ...(options.jkt === undefined ? {} : { expectedJkt: options.jkt }),
          ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
          ...(options.now === undefined ? {} : { now: () => Number(options.now) * 1000 }),
          maxAge: context.maxAge!,
          clockTolerance: context.clockTolerance!,
        },
      )
      printResult(
        options.json === true,
        { valid: true, jkt: verified.jkt, header: verified.header, claims: verified.claims },
        [`valid: jkt ${verified.jkt}`],
      )
    } catch (error) {
      if (!(error instanceof DPoPError)) throw error
      const failing = await describeRefusal(proof, context)
      printResult(
        options.json === true,
        {
          valid: false,
          code: error.code,
          claim: error.claim,
          reason: error.reason,
          message: error.message,
          failed: failing.map(({ check, expected, found }) => ({ check, expected, found })),
        },
        refusalLines(error, failing),
      )
      process.exitCode = 1
    }
  })
}

function formatCheck(check: ExplainedCheck): string[] {
  const label = check.status === 'pass' ? 'PASS' : check.status === 'fail' ? 'FAIL' : 'SKIP'
  const lines = [`${label}  ${check.check.padEnd(10)} ${check.detail}`]
  if (check.fix !== undefined) lines.push(`      ${''.padEnd(10)} fix: ${check.fix}`)
  return lines
}

function resultLine(summary: ReturnType<typeof summarizeChecks>): string {
  const skipped = summary.skipped.length === 0 ? '' : `; not checked: ${summary.skipped.join(', ')}`
  if (summary.status === 'fail')
    return `result: ${summary.failed.length} check(s) failed: ${summary.failed.join(', ')}${skipped}`
  if (summary.status === 'incomplete')
    return `result: INCOMPLETE, not a pass: no check failed, but the request was not described (give --method and --url)${skipped}`
  return `result: verifyProof accepts this proof for this request${skipped}`
}

/** Registers `explain`: one line per check, with the values compared and a fix for each failure. */
export function addExplainCommand(program: Command): void {
  addRequestOptions(
    program
      .command('explain')
      .description(
        'run every check on a proof and explain each failure (exit 0 pass, 1 fail, 3 incomplete: no -m/-u)',
      )
      .argument('<proof>', 'the proof (- reads stdin)')
      .option('--algs <list>', "the server's accepted algorithms, space- or comma-separated"),
    false,
  ).action(async (proofArgument: string, options: Partial<RequestOptions> & { algs?: string }) => {
    const checks = await explainProof(await readProof(proofArgument), {
      ...contextOf(options),
      ...(options.algs === undefined
        ? {}
        : { algorithms: options.algs.split(/[\s,]+/).filter(Boolean) }),
    })
    const summary = summarizeChecks(checks)
    printResult(options.json === true, { valid: summary.status === 'pass', ...summary, checks }, [
      ...checks.flatMap(formatCheck),
      resultLine(summary),
    ])
    if (summary.status === 'fail') process.exitCode = 1
    if (summary.status === 'incomplete') process.exitCode = EXIT_INCOMPLETE
  })
}
