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
      testTimeout: 1_800_000,
      hookTimeout: 600_000,
    },
  }),
);
