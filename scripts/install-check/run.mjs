#!/usr/bin/env node
// The registry-install check: packs every published workspace with `npm pack`, installs the
// tarballs into fresh projects in a temporary folder outside the workspace (so no hoisted copy
// from the monorepo can help), and runs a smoke script per entry point with real servers on
// loopback, the real Redis (REDIS_URL) and PostgreSQL (DATABASE_URL). Prints PASS/FAIL per
// check, the install time and size of the light projects, and exits 1 on any failure.
//
// With --runtimes it also installs Bun and Deno from npm and runs smoke/runtime.mjs on each in
// the same project (a runtime whose binary cannot be installed is a loud SKIP).
//
// Usage (after `npm run build`): node scripts/install-check/run.mjs [--runtimes] [--keep]
import { execFileSync, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'

const REPO_ROOT = join(import.meta.dirname, '..', '..')
const SMOKE_DIR = join(import.meta.dirname, 'smoke')
const keep = process.argv.includes('--keep')
const withRuntimes = process.argv.includes('--runtimes')
const results = { passed: 0, failed: 0, skipped: 0 }
const figures = []

function log(line) {
  console.log(line)
}

/** Records one check's outcome and prints it. */
function record(outcome, name, detail = '') {
  results[outcome === 'PASS' ? 'passed' : outcome === 'SKIP' ? 'skipped' : 'failed'] += 1
  log(`${outcome} ${name}${detail === '' ? '' : `: ${detail}`}`)
}

/** The published workspaces (packages/* and apps/*, not private): name and folder. */
function publishedWorkspaces() {
  return ['packages', 'apps'].flatMap((parent) =>
    readdirSync(join(REPO_ROOT, parent))
      .map((child) => join(REPO_ROOT, parent, child))
      .filter((folder) => existsSync(join(folder, 'package.json')))
      .map((folder) => ({
        folder,
        manifest: JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')),
      }))
      .filter(({ manifest }) => manifest.private !== true),
  )
}

/** `npm pack`s every published workspace into `destination`; returns name → tarball path. */
function packAll(destination) {
  const tarballs = new Map()
  for (const { folder, manifest } of publishedWorkspaces()) {
    if (!existsSync(join(folder, 'dist')))
      throw new Error(`${manifest.name} is not built: run npm run build first`)
    const output = execFileSync('npm', ['pack', '--json', '--pack-destination', destination], {
      cwd: folder,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const [{ filename }] = JSON.parse(output)
    tarballs.set(manifest.name, join(destination, filename))
  }
  return tarballs
}

/** Bytes under a folder (files only, symlinks not followed). */
function folderBytes(folder) {
  let total = 0
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) total += folderBytes(path)
    else if (entry.isFile()) total += statSync(path).size
  }
  return total
}

/** Native add-ons (`*.node`) installed in a project, relative to its node_modules. */
function nativeAddons(folder, found = []) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) nativeAddons(path, found)
    else if (entry.isFile() && entry.name.endsWith('.node')) found.push(path)
  }
  return found
}

/** Runs npm in a project; returns the seconds it took, throws with npm's output on failure. */
function npm(project, args, cache) {
  const started = process.hrtime.bigint()
  const run = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--cache', cache], {
    cwd: project,
    encoding: 'utf8',
  })
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} failed:\n${run.stdout}${run.stderr}`)
  return Number(process.hrtime.bigint() - started) / 1e9
}

/** A fresh project folder with a package.json and the smoke scripts. */
function createProject(work, name) {
  const project = join(work, name)
  mkdirSync(project)
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: `install-check-${name}`, private: true, type: 'module' }, null, 2)}\n`,
  )
  cpSync(SMOKE_DIR, join(project, 'smoke'), { recursive: true })
  return project
}

/** Runs one smoke script; its PASS/FAIL lines count, and a crash without them is a failure. */
function runSmoke(project, script, args = [], executable = process.execPath) {
  const command = Array.isArray(script) ? script : [join('smoke', script), ...args]
  const run = spawnSync(executable, command, {
    cwd: project,
    encoding: 'utf8',
    env: process.env,
    timeout: 120_000,
  })
  let reported = 0
  for (const line of `${run.stdout}`.split('\n')) {
    const match = /^(PASS|FAIL|SKIP) (.*)$/.exec(line)
    if (match === null) {
      if (line.trim() !== '') log(`     ${line}`)
      continue
    }
    reported += 1
    results[match[1] === 'PASS' ? 'passed' : match[1] === 'SKIP' ? 'skipped' : 'failed'] += 1
    log(line)
  }
  if (run.status !== 0 && reported === 0)
    record(
      'FAIL',
      `${basename(executable)} ${command.join(' ')}`,
      `exit ${run.status ?? run.signal}\n${run.stdout}${run.stderr}`,
    )
  else if (run.status !== 0 && !/^FAIL /m.test(run.stdout))
    record(
      'FAIL',
      `${basename(executable)} ${command.join(' ')}`,
      `exit ${run.status ?? run.signal} after its checks\n${run.stderr}`,
    )
}

/** Installs into a project as one named check; returns false when the install failed. */
function install(project, label, args, cache) {
  try {
    const seconds = npm(project, ['install', ...args], cache)
    record('PASS', `install: ${label}`, `${seconds.toFixed(1)} s`)
    return true
  } catch (error) {
    record('FAIL', `install: ${label}`, error.message)
    return false
  }
}

/**
 * Installs a light project's tarballs as one check and records its install time, size and
 * native add-ons; returns the add-ons, or undefined when the install failed.
 */
function installMeasured(project, label, args, cache) {
  const started = process.hrtime.bigint()
  if (!install(project, `${label} alone`, args, cache)) return undefined
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return measure(project, `${label} on Node ${process.versions.node}`, seconds).addons
}

/** Records a light project's install time, size and native add-ons. */
function measure(project, label, seconds) {
  const modules = join(project, 'node_modules')
  const megabytes = folderBytes(modules) / 1e6
  const packages = JSON.parse(
    execFileSync('npm', ['ls', '--all', '--json'], { cwd: project, encoding: 'utf8' }),
  )
  const count = new Set()
  const walk = (node) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      // npm ls lists an optional peer that is not installed too, without a version: not counted.
      if (child.version === undefined) continue
      count.add(`${name}@${child.version}`)
      walk(child)
    }
  }
  walk(packages)
  const addons = nativeAddons(modules).map((path) => relative(modules, path))
  figures.push(
    `${label}: ${seconds.toFixed(1)} s, ${megabytes.toFixed(1)} MB, ${count.size} packages, native add-ons: ${addons.length === 0 ? 'none' : addons.join(', ')}`,
  )
  return { seconds, megabytes, addons }
}

/**
 * The keybound CLI in a project: --help, keygen, thumbprint, proof, verify, explain; and, where
 * the servers are not installed, that gateway, serve and as each name the package to install.
 */
function checkCli(project, label, { optionalPeersMissing }) {
  const keybound = (...args) =>
    spawnSync(
      process.execPath,
      [join(project, 'node_modules', 'keybound', 'bin', 'keybound.js'), ...args],
      {
        cwd: project,
        encoding: 'utf8',
      },
    )
  const first = keybound('--help')
  const steps = [
    [
      '--help',
      () => first,
      (run) => run.status === 0 && /keygen/.test(run.stdout) && /explain/.test(run.stdout),
    ],
    [
      'keygen',
      () => keybound('keygen', '--alg', 'ES256', '--out', 'client.jwk'),
      (run) => run.status === 0 && existsSync(join(project, 'client.jwk')),
    ],
    [
      'thumbprint',
      () => keybound('thumbprint', 'client.jwk'),
      (run) => run.status === 0 && /^[A-Za-z0-9_-]{43}$/.test(run.stdout.trim()),
    ],
  ]
  let proof = ''
  steps.push(
    [
      'proof',
      () =>
        keybound('proof', '-k', 'client.jwk', '-m', 'GET', '-u', 'https://api.example.com/notes'),
      (run) => {
        proof = run.stdout.trim()
        return run.status === 0 && proof.split('.').length === 3
      },
    ],
    [
      'verify',
      () => keybound('verify', proof, '-m', 'GET', '-u', 'https://api.example.com/notes'),
      (run) => run.status === 0 && /valid/.test(run.stdout),
    ],
    [
      'explain (a wrong port is found)',
      () => keybound('explain', proof, '-m', 'GET', '-u', 'https://api.example.com:8443/notes'),
      (run) => run.status === 1 && /FAIL\s+htu/.test(run.stdout) && /port differs/.test(run.stdout),
    ],
  )
  // Where the servers are not installed, each server command names the package to install.
  if (optionalPeersMissing)
    for (const [command, needs] of [
      [['gateway', '--config', 'gateway.yaml'], '@keybound/gateway'],
      [['serve'], '@keybound/demo'],
      [['as', '--config', 'as.yaml'], '@keybound/authorization-server'],
    ])
      steps.push([
        `${command[0]} without ${needs} (says what to install)`,
        () => keybound(...command),
        (run) => run.status === 2 && run.stderr.includes(`npm i ${needs}`),
      ])
  rmSync(join(project, 'client.jwk'), { force: true })
  for (const [name, execute, passes] of steps) {
    const run = execute()
    if (passes(run)) record('PASS', `${label}: keybound ${name}`)
    else
      record('FAIL', `${label}: keybound ${name}`, `exit ${run.status}\n${run.stdout}${run.stderr}`)
  }
}

/** Whether this Node has the node:sqlite the AS uses instead of better-sqlite3 (22.16+). */
function hasNodeSqlite() {
  try {
    const sqlite = process.getBuiltinModule?.('node:sqlite')
    return typeof sqlite?.StatementSync?.prototype?.columns === 'function'
  } catch {
    return false
  }
}

/** Bun and Deno from their npm packages, each running smoke/runtime.mjs in `project`. */
function checkRuntimes(work, project, cache) {
  const tools = join(work, 'runtimes')
  for (const [runtime, spec, args] of [
    ['bun', 'bun@^1', ['smoke/runtime.mjs']],
    ['deno', 'deno@^2', ['run', '--allow-all', 'smoke/runtime.mjs']],
  ]) {
    const binary = join(tools, runtime, 'node_modules', '.bin', runtime)
    mkdirSync(join(tools, runtime), { recursive: true })
    try {
      npm(join(tools, runtime), ['install', '--no-save', spec], cache)
      const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' })
      if (probe.status !== 0) throw new Error(`${binary} --version: ${probe.stderr || probe.error}`)
    } catch (error) {
      record(
        'SKIP',
        `${runtime}: smoke`,
        `!!! ${spec} could not be installed from npm, so ${runtime} is NOT tested: ${error.message}`,
      )
      continue
    }
    runSmoke(project, args, [], binary)
  }
}

function main() {
  for (const variable of ['REDIS_URL', 'DATABASE_URL'])
    if (!process.env[variable])
      throw new Error(`${variable} must be set: the install check uses the real service`)
  const work = mkdtempSync(join(tmpdir(), 'keybound-install-check-'))
  const cache = join(work, 'npm-cache') // empty: the first install below downloads everything
  log(
    `install check on Node ${process.versions.node}, npm ${execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim()}, in ${work}`,
  )
  try {
    const tarballDir = join(work, 'tarballs')
    mkdirSync(tarballDir)
    const tarballs = packAll(tarballDir)
    record('PASS', 'pack', [...tarballs.keys()].join(', '))
    const tgz = (...names) => names.map((name) => tarballs.get(name))

    // 1. The authorization server alone, with an empty npm cache: the light-install figures.
    const asLight = createProject(work, 'as-light')
    const addons = installMeasured(
      asLight,
      '@keybound/authorization-server',
      tgz(
        '@keybound/core',
        '@keybound/config-kit',
        '@keybound/server',
        '@keybound/authorization-server',
      ),
      cache,
    )
    if (addons !== undefined) {
      if (addons.length === 0) record('PASS', 'light AS: no native add-on installed')
      else record('FAIL', 'light AS: no native add-on installed', addons.join(', '))
      runSmoke(asLight, 'missing-peers.mjs')
    }

    // 2. The CLI for its proof commands: core, client and keybound only.
    const cliLight = createProject(work, 'cli-light')
    if (
      installMeasured(
        cliLight,
        'keybound (proof commands)',
        tgz('@keybound/core', '@keybound/client', 'keybound'),
        cache,
      ) !== undefined
    )
      checkCli(cliLight, 'light CLI', { optionalPeersMissing: true })

    // 3. A project on the older majors: installing @keybound/server must not ERESOLVE.
    const legacy = createProject(work, 'legacy-frameworks')
    if (
      install(
        legacy,
        'express 4, fastify 4, hono 3 from the registry',
        ['express@^4.21', '@types/express@^4.17.21', 'fastify@^4.28', 'hono@^3.12'],
        cache,
      ) &&
      install(
        legacy,
        '@keybound/server beside them',
        tgz('@keybound/core', '@keybound/server'),
        cache,
      )
    )
      runSmoke(legacy, 'server.mjs', ['express', 'fastify', 'hono', 'node'])

    // 4. Everything, on the current majors.
    // Node without a usable node:sqlite (20) runs the SQLite store on better-sqlite3 12, which
    // its users install as the AS README says (it compiles from source there).
    const sqlitePeer = hasNodeSqlite() ? [] : ['better-sqlite3@^12']
    const modern = createProject(work, 'everything')
    if (
      install(
        modern,
        `express 5, fastify 5, hono 4, redis 5, pg${sqlitePeer.length === 0 ? '' : ', better-sqlite3 12'} from the registry`,
        ['express@^5', 'fastify@^5', 'hono@^4', 'redis@^5', 'pg@^8', ...sqlitePeer],
        cache,
      ) &&
      install(modern, 'every Keybound tarball', [...tarballs.values()], cache)
    ) {
      runSmoke(modern, 'core.mjs')
      runSmoke(modern, 'server.mjs', ['express', 'fastify', 'hono', 'node'])
      runSmoke(modern, 'redis.mjs')
      for (const mode of ['sqlite', 'postgres', 'redis']) runSmoke(modern, 'stack.mjs', [mode])
      checkCli(modern, 'full CLI', { optionalPeersMissing: false })
      if (withRuntimes) checkRuntimes(work, modern, cache)
    }
  } catch (error) {
    record('FAIL', 'install check', error?.stack ?? String(error))
  } finally {
    if (keep) log(`kept ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
  log('')
  for (const figure of figures) log(`figure: ${figure}`)
  log(
    `install-check: ${results.passed} passed, ${results.failed} failed, ${results.skipped} skipped`,
  )
  process.exitCode = results.failed === 0 ? 0 : 1
}

main()
