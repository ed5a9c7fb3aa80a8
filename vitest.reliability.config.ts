import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// The reliability suite at full length: every generated case, every kill instant.
// The quick run (vitest.config.ts) runs the same files with a few cases each.
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/reliability/**/*.test.ts'],
      exclude: ['node_modules/**'],
      env: { TESA_RELIABILITY_FULL: '1' },
      // Prints the summary table (faults, survived, data lost, bad inputs, crashes) at the end.
      globalSetup: ['test/reliability/summary.ts'],
      testTimeout: 1_800_000,
      hookTimeout: 600_000,
    },
  }),
);
