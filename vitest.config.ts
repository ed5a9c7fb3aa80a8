import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    exclude: ['test/reliability/long/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests compile C and time kernels: running them side by side on a
    // 2-core machine would make timings meaningless and builds slow.
    fileParallelism: false,
    pool: 'forks',
  },
});
