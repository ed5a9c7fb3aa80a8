/** `tesa bench kernel --pattern … --json` through the built CLI on a small shape: the JSON contract. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { packageRoot } from '../../../../src/util/package-root.js';

const run = promisify(execFile);
const cli = join(packageRoot(), 'dist/src/cli/main.js');

describe('tesa bench kernel --pattern', () => {
  it('prints ours/dense/onnxruntime/openblas with speedups and the error as JSON', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tesa-bench-cli-'));
    try {
      const { stdout } = await run('node', [cli, 'bench', 'kernel', '--pattern', 'block:1x16', '--sparsity', '0.8', '--shape', '16x64x64', '--json'], {
        env: { ...process.env, TESA_CACHE_DIR: home, TESA_DB: join(home, "tesa.db") },
        timeout: 300_000,
        maxBuffer: 16 << 20,
      });
      const r = JSON.parse(stdout);
      for (const side of ['ours', 'dense', 'onnxruntime']) {
        expect(r[side].medianMs).toBeGreaterThan(0);
        expect(r[side].ciLowMs).toBeLessThanOrEqual(r[side].medianMs);
        expect(r[side].ciHighMs).toBeGreaterThanOrEqual(r[side].medianMs);
      }
      expect(r.openblas === null || r.openblas.medianMs > 0).toBe(true);
      expect(r.speedup.vsDense).toBeCloseTo(r.dense.medianMs / r.ours.medianMs, 6);
      expect(r.speedup.vsOnnxruntime).toBeCloseTo(r.onnxruntime.medianMs / r.ours.medianMs, 6);
      expect(r.openblas === null ? r.speedup.vsOpenblas === null : r.speedup.vsOpenblas > 0).toBe(true);
      expect(r.maxRelError).toBeLessThan(1e-5);
      expect(r.achievedSparsity).toBeCloseTo(0.8, 2);
      expect(typeof r.plan).toBe('string');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
  it('rejects a bad pattern with a one-line error and exit code 2', async () => {
    const e = await run('node', [cli, 'bench', 'kernel', '--pattern', 'blok:1x32', '--sparsity', '0.8', '--shape', '16x64x64']).catch((x: unknown) => x as { code: number; stderr: string });
    expect((e as { code: number }).code).toBe(2);
    expect((e as { stderr: string }).stderr).toMatch(/--pattern: invalid pattern 'blok:1x32'.*hint: valid forms/);
  });
});
