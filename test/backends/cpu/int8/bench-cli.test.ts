/** `tesa bench kernel --precision int8 …` through the built CLI on small shapes: the JSON contract and the errors. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { packageRoot } from '../../../../src/util/package-root.js';
import { readCpuInfo } from '../../../../backends/cpu/fingerprint.js';

const run = promisify(execFile);
const cli = join(packageRoot(), 'dist/src/cli/main.js');

describe.skipIf(!readCpuInfo().flags.includes('avx2'))('tesa bench kernel --precision int8', () => {
  it('times the int8 BSR + fp32 outliers kernel beside our fp32 dense GEMM, as JSON', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tesa-int8-cli-'));
    try {
      const { stdout } = await run('node', [cli, 'bench', 'kernel', '--precision', 'int8', '--pattern', 'block:1x32', '--sparsity', '0.75', '--outliers', '0.01', '--isa', 'avx2', '--shape', '16x64x128', '--json'], {
        env: { ...process.env, TESA_CACHE_DIR: home, TESA_DB: join(home, 'tesa.db') },
        timeout: 300_000,
        maxBuffer: 16 << 20,
      });
      const r = JSON.parse(stdout);
      expect(r.isa).toBe('avx2');
      expect(r.plan).toBe('int8-bsr:1x32+fp32-outliers:0.01');
      expect(r.achievedSparsity).toBeCloseTo(0.75, 2);
      for (const side of ['int8', 'fp32Dense']) {
        expect(r[side].stats.medianMs).toBeGreaterThan(0);
        expect(r[side].stats.ciLowMs).toBeLessThanOrEqual(r[side].stats.medianMs);
      }
      expect(r.int8.speedupVsFp32Dense).toBeCloseTo(r.fp32Dense.stats.medianMs / r.int8.stats.medianMs, 6);
      expect(r.int8.intError).toBeLessThan(1e-5);
      expect(r.int8.quantError).toBeGreaterThan(1e-4);
      expect(r.int8.quantError).toBeLessThan(0.05);
      expect(r.fp32Dense.quantError).toBeLessThan(1e-5);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);

  it('rejects a pattern the int8 kernels do not serve, with exit code 2', async () => {
    const e = await run('node', [cli, 'bench', 'kernel', '--precision', 'int8', '--pattern', 'fine', '--sparsity', '0.8', '--shape', '16x64x64']).catch((x: unknown) => x as { code: number; stderr: string });
    expect((e as { code: number }).code).toBe(2);
    expect((e as { stderr: string }).stderr).toMatch(/^tesa: int8 kernels serve dense and block:RxC weights, not 'fine' \(hint: /);
  }, 60_000);
});
