// Vitest global setup: when coverage is on, empties the folder where child processes write their
// raw V8 coverage and hands its path to the test workers (see child-coverage-env.mjs).
// Tests spawn the CLI, the AS and gateway bins and the demo; their code runs only there.
import { rmSync, mkdirSync } from 'node:fs'
import { resolve } from 'node:path'

/** Where spawned Node processes write raw V8 coverage; scripts/coverage/report.mjs reads it. */
export const childCoverageDir = resolve('coverage/v8-children')

/** @param {import('vitest/node').TestProject} project */
export default function setup(project) {
  if (!project.config.coverage.enabled) return
  rmSync(childCoverageDir, { recursive: true, force: true })
  mkdirSync(childCoverageDir, { recursive: true })
  project.provide('childCoverageDir', childCoverageDir)
}
