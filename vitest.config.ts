import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores on CI: keep parallelism modest, compile caches per worker.
    pool: 'forks',
    maxWorkers: 2,
  },
});
