/**
 * DPoP proofs at the token and PAR endpoints (RFC 9449 §4.3, §5, §8, §10.1): exactly one
 * `DPoP` header, every check of `verifyProof`, the AS nonce (on by default) and the shared
 * replay store, with `htu` built from the configured issuer.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 */
import { verifyProof, type VerifiedProof } from '@keybound/core'
import type { FastifyRequest } from 'fastify'
import type { ServerContext } from '../context.js'
import { OAuthError } from './wire.js'

// RFC 9449 §4.1: `DPoP = token68`; anything else is malformed before it reaches the parser.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * The single `DPoP` header value of a request, `undefined` when there is none. Two header
 * lines, or one combined with a comma, are refused (§4.3 items 1 and 2).
 * @example
 * ```ts
 * const proof = readDpopHeader(request)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.1
 */
export function readDpopHeader(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders
  let count = 0
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'dpop') {
      count++
      value = raw[i + 1]
    }
  }
  if (count === 0) return undefined
  if (count > 1) throw new OAuthError('invalid_dpop_proof', 'more than one DPoP header field')
  if (value === undefined || !TOKEN68.test(value))
    throw new OAuthError('invalid_dpop_proof', 'DPoP header is not a single JWT')
  return value
}

/**
 * Verifies the request's proof for `url` (`htm` `POST`), with nonce and replay checks. Returns
 * `undefined` when the request carries no proof; the caller decides whether one is required.
 * @example
 * ```ts
 * const proof = await checkProof(ctx, request, ctx.urls().token)
 * if (proof) bindTo(proof.jkt)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function checkProof(
  ctx: ServerContext,
  request: FastifyRequest,
  url: string,
): Promise<VerifiedProof | undefined> {
  const proof = readDpopHeader(request)
  if (proof === undefined) return undefined
  const { dpop } = ctx.config
  return verifyProof(
    proof,
    { method: 'POST', url },
    {
      replayStore: ctx.replayStore,
      algorithms: dpop.algorithms,
      maxAge: dpop.maxAge,
      clockTolerance: dpop.clockTolerance,
      now: ctx.now,
      ...(dpop.nonce.required ? { nonce: ctx.nonces } : {}),
      // FAPI 2.0 §5.3.2.1: the iat window holds even when a nonce dates the proof.
      ...(ctx.config.profile === 'fapi2' ? { requireIat: true } : {}),
    },
  )
}

/**
 * The fresh nonce to send with a successful answer: one when the proof's nonce is from the
 * previous time step (§8.2 rotation), none otherwise.
 * @example
 * ```ts
 * return sendJson(reply, 200, body, { nonce: await rotatedNonce(ctx, proof) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8.2
 */
export async function rotatedNonce(
  ctx: ServerContext,
  proof: VerifiedProof | undefined,
): Promise<string | undefined> {
  if (!ctx.config.dpop.nonce.required || proof?.rotateNonce !== true) return undefined
  return ctx.nonces.issueNonce()
}
