/**
 * Printing for the CLI: human lines by default, one JSON document with `--json`.
 */

/** Prints `value` as JSON or `lines` as text. */
export function printResult(json: boolean, value: unknown, lines: readonly string[]): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${lines.join('\n')}\n`)
}
