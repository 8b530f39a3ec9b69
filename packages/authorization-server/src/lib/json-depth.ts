/**
 * A nesting check for JSON text that runs before `JSON.parse`: one pass, no recursion, so a
 * 64 KiB body of `[[[[…` costs a loop, not a stack.
 * @packageDocumentation
 */

/**
 * Whether no object or array in `text` is nested deeper than `maxDepth`. Brackets inside
 * strings do not count. Malformed JSON passes (the parser refuses it next).
 * @example
 * ```ts
 * checkJsonDepth('{"a":[1,{"b":2}]}', 3) // true
 * checkJsonDepth('[[[[1]]]]', 3) // false
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8259#section-9
 */
export function checkJsonDepth(text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === 0x5c)
        i++ // backslash: skip the escaped character
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x7b || code === 0x5b) {
      if (++depth > maxDepth) return false
    } else if (code === 0x7d || code === 0x5d) depth--
  }
  return true
}
