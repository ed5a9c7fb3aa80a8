/**
 * `tesa optimize --target cuda` end to end on the GPU: a real search (nvcc builds, the model
 * runner, paired timings) on bert-mini, then `tesa export` of its result with a CUDA bundle that
 * runs on its own. CI has no GPU: skipped there with a line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cudaUnavailableReason } from '../../../../backends/cuda/fingerprint.js';

const reason = cudaUnavailableReason();
if (reason !== null) process.stdout.write(`test/backends/cuda/model/optimize-cuda.test.ts: skipped: ${reason}\n`);

describe.skipIf(reason !== null)('tesa optimize --target cuda', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tesa-opt-cuda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  const env = { ...process.env, TESA_CACHE_DIR: join(dir, 'cache') };
  const db = join(dir, 't.db');

  it('searches bert-mini on the GPU and exports a bundle that runs', () => {
    const r = spawnSync(process.execPath, [cli, 'optimize', '--model', 'zoo:bert-mini', '--target', 'cuda', '--latency-budget', '0.9', '--max-trials', '2', '--time-limit', '3m', '--db', db, '--json'], { encoding: 'utf8', timeout: 400_000, env });
    // With --json the progress lines go to stderr and the result to stdout.
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/search \d+ done/);
    const out = JSON.parse(r.stdout) as { searchId: number; baseline: { latencyMs: number }; trials: number };
    expect(out.baseline.latencyMs).toBeGreaterThan(0);
    expect(out.trials).toBeGreaterThanOrEqual(1);
    const x = spawnSync(process.execPath, [cli, 'export', String(out.searchId), '--trial', '1', '--out', join(dir, 'out'), '--db', db], { encoding: 'utf8', timeout: 400_000, env });
    expect(x.status, x.stderr).toBe(0);
    expect(existsSync(join(dir, 'out', 'bundle', 'run'))).toBe(true);
    const run = spawnSync(join(dir, 'out', 'bundle', 'run'), ['--json', '--reps', '5'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status).toBe(0);
    expect((JSON.parse(run.stdout) as { medianMs: number }).medianMs).toBeGreaterThan(0);
  }, 800_000);
});
