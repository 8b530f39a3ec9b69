/**
 * Only the repositories in src/storage/ reach the database (D42): this reads every other source
 * file of the authorization server (routes, grants, clients, users, keys, tokens, the server's
 * assembly, at any depth) and fails on any query builder call, raw SQL or transaction opened
 * by hand, so a query written outside a repository is caught in review.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const SOURCE = join(import.meta.dirname, '..', 'src')
const STORAGE = join(SOURCE, 'storage')
// Kysely's statement builders, raw SQL templates and transactions.
const SQL =
  /\.(?:selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\(|\bsql`|\.transaction\(\)/

function sourceFilesOutsideStorage(): string[] {
  return readdirSync(SOURCE, { recursive: true, encoding: 'utf8' })
    .map((name) => join(SOURCE, name))
    .filter((file) => file.endsWith('.ts') && !file.startsWith(STORAGE))
}

function sqlLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, index) =>
      SQL.test(line) ? [`${relative(SOURCE, file)}:${index + 1}: ${line.trim()}`] : [],
    )
}

describe('authorization server without SQL outside storage (D42)', () => {
  it('every file of src/ but src/storage/ calls repositories, never the database', () => {
    const files = sourceFilesOutsideStorage()
    // The scan must reach into the folders, or it would pass on an empty list.
    expect(files.map((file) => relative(SOURCE, file))).toEqual(
      expect.arrayContaining([
        'server.ts',
        join('routes', 'token.ts'),
        join('grants', 'token-exchange.ts'),
      ]),
    )
    expect(files.flatMap(sqlLines)).toEqual([])
  })

  it('finds a query builder call and raw SQL when they are there', () => {
    expect(SQL.test("await db.selectFrom('kb_users')")).toBe(true)
    expect(SQL.test('await sql`select 1`.execute(db)')).toBe(true)
    expect(SQL.test('await db.transaction().execute(work)')).toBe(true)
    expect(SQL.test('await findUser(db, username)')).toBe(false)
  })
})
