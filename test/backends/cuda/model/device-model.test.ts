/**
 * Whole models on the GPU: the generated glue, the model runner and the sparse linears
 * together. Outputs must match onnxruntime (dense) and the masked dense model (sparse) within
 * fp16 error, and the reference interpreter must agree with the GPU (so the IR's meaning and
 * the generated CUDA are the same thing). CI has no GPU: skipped there with a line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { maskedGraph, uniformSparsity } from '../../../../backends/cuda/bench-model.js';
import { writeCudaBundle } from '../../../../backends/cuda/bundle-model.js';
import { runBundle } from '../../../../src/export/bundle.js';
import { CudaBackend } from '../../../../backends/cuda/cuda-backend.js';
import { cudaUnavailableReason } from '../../../../backends/cuda/fingerprint.js';
import { linearMathWeight, lowerGraph, type LinearSource } from '../../../../backends/cuda/model/lower-graph.js';
import { runReference } from '../../../../backends/cuda/model/reference.js';
import { randomInputs } from '../../../../src/model/inputs.js';
import { loadModel } from '../../../../src/model/load.js';
import { runOrt } from '../../../../src/model/ort.js';
import { relError } from '../../../../src/evaluate/rel-error.js';

const reason = cudaUnavailableReason();
if (reason !== null) process.stdout.write(`test/backends/cuda/model/device-model.test.ts: skipped: ${reason}\n`);

describe.skipIf(reason !== null)('whole models on the GPU', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tesa-cuda-model-'));
  const backend = new CudaBackend({ cacheDir });
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  const protocol = { warmup: 2, minReps: 5, maxReps: 5, ciTarget: 0.05, timeoutMs: 600_000 };

  for (const spec of ['zoo:mlp', 'zoo:bert-mini']) {
    it(`${spec} dense: outputs match onnxruntime and the reference interpreter`, async () => {
      const g = await loadModel(spec);
      const inputs = randomInputs(g, 3);
      const feeds = new Map(Object.entries(inputs)) as Map<string, Float32Array | BigInt64Array>;
      const model = await backend.compile(g);
      const res = await backend.run(model, { protocol, inputs: feeds, wantOutputs: true });
      expect(res.samplesMs).toHaveLength(5);
      expect(res.samplesMs.every((s) => s > 0)).toBe(true);
      const ort = await runOrt(g, inputs);
      const ref = runReference(lowerGraph(g), { inputs: feeds, weight: (d) => linearMathWeight(g, d as LinearSource).w });
      for (const name of g.outputs) {
        const ours = res.outputs!.get(name)!;
        expect(relError(ours, ort.get(name)!.data as Float32Array)).toBeLessThan(1e-2);
        expect(relError(ours, ref.get(name)!)).toBeLessThan(5e-3);
      }
    }, 600_000);
  }

  for (const [pattern, ratio] of [
    ['tile:128', 0.75],
    ['block:32x32', 0.9],
    ['nm:2:4', 0.5],
    ['row', 0.5],
  ] as const) {
    it(`zoo:bert-mini with every linear ${pattern} at ${ratio}: outputs match the masked dense model`, async () => {
      const g = await loadModel('zoo:bert-mini');
      const sp = uniformSparsity(g, pattern, ratio);
      const inputs = new Map(Object.entries(randomInputs(g, 4))) as Map<string, Float32Array | BigInt64Array>;
      const sparse = await backend.compile(g, { sparsity: sp });
      expect(sparse.plan.filter((p) => p.kernel !== 'glue' && p.kernel !== 'cublas-dense').length).toBe(24);
      const dense = await backend.compile(maskedGraph(g, sp));
      const a = await backend.run(sparse, { protocol, inputs, wantOutputs: true, check: true });
      const b = await backend.run(dense, { protocol, inputs, wantOutputs: true });
      expect(a.check!.maxRelError).toBeLessThan(5e-3);
      expect(relError(a.outputs!.get('last_hidden_state')!, b.outputs!.get('last_hidden_state')!)).toBeLessThan(1e-2);
    }, 900_000);
  }

  it('a second compile of the same sparse model builds nothing', async () => {
    const g = await loadModel('zoo:bert-mini');
    const sp = uniformSparsity(g, 'tile:128', 0.75);
    const again = await backend.compile(g, { sparsity: sp });
    expect(again.stats.kernelsBuilt).toBe(0);
    expect(again.stats.kernelsCached).toBeGreaterThan(1);
  }, 600_000);

  it('an exported bundle times the model on its own (`bundle/run --json`)', async () => {
    const g = await loadModel('zoo:bert-mini');
    const model = await backend.compile(g, { sparsity: uniformSparsity(g, 'tile:128', 0.75) });
    const dir = join(cacheDir, 'bundle');
    const info = writeCudaBundle(model, dir);
    expect(info.kernels).toBeGreaterThan(1);
    const run = await runBundle(dir, { reps: 5, warmup: 2 });
    expect(run.samplesMs).toHaveLength(5);
    expect(run.medianMs).toBeGreaterThan(0);
  }, 600_000);

  it('`tesa bench model --target cuda` times dense beside sparse and compares outputs', () => {
    const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'bench', 'model', 'zoo:bert-mini', '--target', 'cuda', '--pattern', 'tile:128', '--sparsity', '0.75', '--rounds', '2', '--json'], {
      encoding: 'utf8',
      timeout: 900_000,
      env: { ...process.env, TESA_CACHE_DIR: cacheDir },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { speedup: number; sparse: { maxRelError: number; checkMaxRelError: number } };
    expect(out.speedup).toBeGreaterThan(0);
    expect(out.sparse.maxRelError).toBeLessThan(1e-2);
    expect(out.sparse.checkMaxRelError).toBeLessThan(5e-3);
  }, 900_000);
});
