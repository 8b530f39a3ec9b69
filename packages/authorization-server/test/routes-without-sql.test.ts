/**
 * The routes and grants of the authorization server reach the database only through the
 * repositories in src/storage/ (D42): this reads their source and fails on any query builder
 * call or raw SQL, so a query written inline in a route is caught in review.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const SOURCE = join(import.meta.dirname, '..', 'src')
const FOLDERS = ['routes', 'grants']
// Kysely's statement builders, raw SQL templates and transactions.
const SQL =
  /\.(?:selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\(|\bsql`|\.transaction\(\)/

function sourceFiles(folder: string): string[] {
  return readdirSync(join(SOURCE, folder))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(SOURCE, folder, name))
}

function sqlLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, index) => (SQL.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : []))
}

describe('authorization server routes without SQL (D42)', () => {
  it.each(FOLDERS)('src/%s calls storage repositories, never the database', (folder) => {
    const files = sourceFiles(folder)
    expect(files.length).toBeGreaterThan(0)
    expect(files.flatMap(sqlLines)).toEqual([])
  })
})
