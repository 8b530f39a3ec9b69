#!/usr/bin/env node
// How long the keybound CLI's proof commands take to start: for each, the median of 20 runs of
// `keybound <command> --help` (start, load, parse, print, exit), as wall time and as the CPU
// time the process used (user + system, read in the child at exit). CPU time is the steadier
// figure on a busy machine, where wall time also counts waiting for a core. A bare `node -e 0`
// is measured the same way: no CLI can start faster than that on the machine at hand.
//
//   npx tsc -b packages/cli && node scripts/cli-start-time.mjs [runs]
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../packages/cli/bin/keybound.js', import.meta.url))
const COMMANDS = ['keygen', 'thumbprint', 'proof', 'verify', 'explain', 'curl']
const RUNS = Number(process.argv[2] ?? 20)
// Reports the child's own CPU time on stderr as it exits.
const REPORT_CPU = `data:text/javascript,process.on('exit',()=>{const u=process.cpuUsage();process.stderr.write('cpu-us '+(u.user+u.system))})`

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

function timeRuns(args) {
  const wall = []
  const cpu = []
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint()
    const result = spawnSync(process.execPath, ['--import', REPORT_CPU, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    wall.push(Number(process.hrtime.bigint() - start) / 1e6)
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited with ${result.status}`)
    cpu.push(Number(/cpu-us (\d+)/.exec(result.stderr.toString())?.[1]) / 1000)
  }
  return { wall: median(wall), cpu: median(cpu) }
}

const rows = [['node -e 0 (baseline)', timeRuns(['-e', '0'])]]
for (const command of COMMANDS)
  rows.push([`keybound ${command} --help`, timeRuns([BIN, command, '--help'])])
console.log(`node ${process.version}, median of ${RUNS} starts each: wall time, CPU time`)
for (const [name, { wall, cpu }] of rows)
  console.log(
    `${name.padEnd(28)} ${wall.toFixed(0).padStart(5)} ms ${cpu.toFixed(0).padStart(5)} ms`,
  )
