/**
 * `keybound proof`, `keybound verify` and `keybound explain`.
 */
import type { Command } from 'commander'
import { createProof, DPoPError, verifyProof, type DPoPAlgorithm } from '@keybound/core'
import { explainProof, type ExplainedCheck } from '../lib/explain-proof.js'
import { loadKeyPair, readInput } from '../lib/key-files.js'
import { printResult } from '../lib/output.js'

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

function addRequestOptions(command: Command, required: boolean): Command {
  const method = required ? command.requiredOption.bind(command) : command.option.bind(command)
  method('-m, --method <method>', 'HTTP method of the request')
  method('-u, --url <url>', 'URL the server was called at (its public URL)')
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

/** Registers `proof`. */
export function addProofCommand(program: Command): void {
  program
    .command('proof')
    .description('sign a DPoP proof for one request and print it')
    .requiredOption('-k, --key <file>', 'private key file (JWK or PEM)')
    .requiredOption('-m, --method <method>', 'HTTP method')
    .requiredOption('-u, --url <url>', 'request URL (query and fragment are stripped)')
    .option('-a, --alg <alg>', 'algorithm, when the key file does not say')
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
      }) => {
        const key = await loadKeyPair(options.key, options.alg)
        const proof = await createProof(key, {
          htm: options.method,
          htu: options.url,
          ...(options.token === undefined ? {} : { accessToken: options.token }),
          ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
        })
        printResult(options.json === true, { proof, jkt: key.jkt }, [proof])
      },
    )
}

/** Registers `verify`: exit 0 when the proof is valid, 1 with the error code when not. */
export function addVerifyCommand(program: Command): void {
  addRequestOptions(
    program
      .command('verify')
      .description(
        'verify a proof against a request; exits 1 with the error code when it is refused',
      )
      .argument('<proof>', 'the proof (- reads stdin)'),
    true,
  ).action(async (proofArgument: string, options: RequestOptions) => {
    const proof = await readProof(proofArgument)
    try {
      const verified = await verifyProof(
        proof,
        { method: options.method, url: options.url },
        {
          replayStore: false,
          ...(options.token === undefined ? {} : { accessToken: options.token }),
          ...(options.jkt === undefined ? {} : { expectedJkt: options.jkt }),
          ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
          ...(options.now === undefined ? {} : { now: () => Number(options.now) * 1000 }),
          maxAge: Number(options.maxAge),
          clockTolerance: Number(options.clockTolerance),
        },
      )
      printResult(
        options.json === true,
        { valid: true, jkt: verified.jkt, header: verified.header, claims: verified.claims },
        [`valid: jkt ${verified.jkt}`],
      )
    } catch (error) {
      if (!(error instanceof DPoPError)) throw error
      printResult(
        options.json === true,
        {
          valid: false,
          code: error.code,
          claim: error.claim,
          reason: error.reason,
          message: error.message,
        },
        [`invalid: ${error.code}: ${error.message}`],
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

/** Registers `explain`: one line per check, with the values compared and a fix for each failure. */
export function addExplainCommand(program: Command): void {
  addRequestOptions(
    program
      .command('explain')
      .description('run every check on a proof and explain each failure')
      .argument('<proof>', 'the proof (- reads stdin)')
      .option('--algs <list>', "the server's accepted algorithms, space- or comma-separated"),
    false,
  ).action(async (proofArgument: string, options: Partial<RequestOptions> & { algs?: string }) => {
    const checks = await explainProof(await readProof(proofArgument), {
      ...(options.method === undefined ? {} : { method: options.method }),
      ...(options.url === undefined ? {} : { url: options.url }),
      ...(options.token === undefined ? {} : { accessToken: options.token }),
      ...(options.jkt === undefined ? {} : { jkt: options.jkt }),
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
      ...(options.now === undefined ? {} : { now: Number(options.now) }),
      ...(options.algs === undefined
        ? {}
        : { algorithms: options.algs.split(/[\s,]+/).filter(Boolean) }),
      maxAge: Number(options.maxAge ?? 60),
      clockTolerance: Number(options.clockTolerance ?? 10),
    })
    const failed = checks.filter((check) => check.status === 'fail')
    printResult(options.json === true, { valid: failed.length === 0, checks }, [
      ...checks.flatMap(formatCheck),
      failed.length === 0
        ? 'result: every check passed'
        : `result: ${failed.length} check(s) failed: ${failed.map((c) => c.check).join(', ')}`,
    ])
    if (failed.length > 0) process.exitCode = 1
  })
}
