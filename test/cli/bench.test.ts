/**
 * `tesa bench model` and `tesa bench kernel` through the built CLI (real processes, real
 * compiler, onnxruntime-node in the same run). Only the JSON's shape and the correctness
 * figure are asserted: speed is for the benchmark notes, not for tests.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempCache } from '../backends/cpu/helpers.js';

const cli = join(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const cache = tempCache('tesa-bench-test-');
afterAll(() => cache.cleanup());

function tesa(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, TESA_CACHE_DIR: cache.dir }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isStats = (s: unknown): boolean => {
  const o = s as Record<string, number>;
  return o.medianMs > 0 && o.ciLowMs <= o.medianMs && o.ciHighMs >= o.medianMs;
};

describe('tesa bench', () => {
  it('bench model zoo:mlp --json: ours beside onnxruntime, same outputs', () => {
    const r = tesa(['bench', 'model', 'zoo:mlp', '--json', '--rounds', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(isStats(j.ours)).toBe(true);
    expect(isStats(j.onnxruntime)).toBe(true);
    expect(j.ratio).toBeCloseTo(j.ours.medianMs / j.onnxruntime.medianMs, 6);
    expect(j.maxRelError).toBeLessThanOrEqual(1e-4);
  }, 240_000);

  it('bench kernel --op matmul --shape 64x96x80 --json: ours, onnxruntime, openblas or a note', () => {
    const r = tesa(['bench', 'kernel', '--op', 'matmul', '--shape', '64x96x80', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(isStats(j.ours)).toBe(true);
    expect(isStats(j.onnxruntime)).toBe(true);
    expect(j.openblas === null ? typeof j.openblasNote === 'string' : isStats(j.openblas)).toBe(true);
    expect(j.maxRelError).toBeLessThanOrEqual(1e-4);
  }, 240_000);

  it('bad --shape and unknown --op are one-line errors with exit code 2', () => {
    const a = tesa(['bench', 'kernel', '--shape', '64x96']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^tesa: --shape '64x96': expected MxNxK/);
    const b = tesa(['bench', 'kernel', '--op', 'conv', '--shape', '1x2x3']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("--op 'conv'");
  });
});
