import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The reliability suite at full length: every kill instant, the long fuzz samples.
// The quick run (vitest.config.ts) runs the same files with a few cases each.
// Spread, not mergeConfig: mergeConfig concatenates `include`, which ran the whole test suite.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/reliability/**/*.test.ts'],
    exclude: ['node_modules/**'],
    env: { TESA_RELIABILITY_FULL: '1' },
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    // Prints the summary table (faults, survived, data lost, bad inputs, crashes) at the end.
    globalSetup: ['test/reliability/summary.ts'],
  },
});
