// Vitest setup file: sets NODE_V8_COVERAGE in each test worker after it started, so the worker
// itself writes nothing (vitest measures it) and every Node child it spawns with the inherited
// environment writes its coverage where scripts/coverage/report.mjs merges it.
import { inject } from 'vitest'

const dir = inject('childCoverageDir')
if (typeof dir === 'string') process.env.NODE_V8_COVERAGE = dir
