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
  },
})
