/**
 * Decoding JWTs for display (no verification: the servers verify, the page only shows) and
 * rendering JSON with the members that matter to DPoP highlighted.
 * @packageDocumentation
 */

/** A decoded compact JWS: header and payload as parsed JSON. */
export interface DecodedJwt {
  header: Record<string, unknown>
  payload: Record<string, unknown>
}

function decodeSegment(segment: string): Record<string, unknown> {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='))
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0))
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>
}

/**
 * Decodes a JWT's header and payload for display, or `undefined` when it is not a JWT.
 * @example
 * ```ts
 * decodeJwt(proof)?.payload.htu // 'http://localhost:4001/api/me'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export function decodeJwt(compact: string): DecodedJwt | undefined {
  const [header, payload] = compact.split('.')
  if (header === undefined || payload === undefined) return undefined
  try {
    return { header: decodeSegment(header), payload: decodeSegment(payload) }
  } catch {
    return undefined
  }
}

/**
 * Fills a `<pre>` with an object as indented JSON, wrapping the lines of the named members in
 * `<mark>` (dotted names reach nested members, e.g. `cnf.jkt`). Text only, never HTML.
 * @example
 * ```ts
 * renderJson(pre, claims, ['htm', 'htu', 'ath'])
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function renderJson(
  target: HTMLElement,
  value: unknown,
  highlight: readonly string[] = [],
): void {
  target.replaceChildren()
  const wanted = new Set(highlight)
  const lines = JSON.stringify(value, null, 2).split('\n')
  const path: string[] = []
  for (const line of lines) {
    const member = /^(\s*)"([^"]+)": /.exec(line)
    const depth = (/^\s*/.exec(line)?.[0].length ?? 0) / 2
    path.length = Math.max(0, depth - 1)
    if (member !== null) path[depth - 1] = member[2]!
    const name = path.slice(0, depth).join('.')
    const text = `${line}\n`
    if (member !== null && wanted.has(name)) {
      const mark = document.createElement('mark')
      mark.textContent = line.trimStart()
      target.append(line.slice(0, line.length - line.trimStart().length), mark, '\n')
    } else target.append(text)
  }
}

/**
 * Shortens a token for display: enough to recognise it, not a wall of base64url.
 * @example
 * ```ts
 * abbreviate('eyJhbGciOi…') // 'eyJhbGciOiJFUzI1NiIsInR5…(812 chars)'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export function abbreviate(token: string, keep = 24): string {
  return token.length <= keep + 8 ? token : `${token.slice(0, keep)}…(${token.length} chars)`
}
