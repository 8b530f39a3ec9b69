import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'interop/test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    // Browser and load tests poll for effects; on a busy 2-core CI machine a second is too short.
    expect: { poll: { timeout: 15_000 } },
    hookTimeout: 60_000,
    reporters: ['default'],
    // Coverage is on with `--coverage` (npm test); scripts/coverage/report.mjs then adds the child
    // processes' share and checks the floors (docs/adr/0051-coverage.md).
    globalSetup: ['scripts/coverage/child-coverage-setup.mjs'],
    setupFiles: ['scripts/coverage/child-coverage-env.mjs'],
    coverage: {
      provider: 'v8',
      // Tests import a package both as ../src (TypeScript) and by name (dist/*.js): both count,
      // dist through tsc's source maps (excludeAfterRemap filters the remapped src paths).
      include: [
        'packages/*/src/**/*.ts',
        'apps/*/src/**/*.ts',
        'packages/*/dist/**/*.js',
        'apps/*/dist/**/*.js',
      ],
      exclude: ['**/*.d.ts'],
      excludeAfterRemap: true,
      reporter: ['json'],
      reportsDirectory: 'coverage/vitest',
    },
  },
})
