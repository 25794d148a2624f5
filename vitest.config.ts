import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real registries and a real Docker engine on loopback (test/env/README.md).
    globalSetup: ['test/env/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    // The machine is shared (2 cores): at most two test files at a time.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
