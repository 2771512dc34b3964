import { defineConfig } from 'vitest/config';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores on CI: keep parallelism modest, compile caches per worker.
    pool: 'forks',
    maxWorkers: 2,
    // Tests never touch the user's kernel cache in ~/.cache/tilejit.
    env: { TILEJIT_CACHE_DIR: join(tmpdir(), `tilejit-test-cache-${process.pid}`) },
  },
});
