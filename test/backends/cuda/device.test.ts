/**
 * The CUDA backend on a real GPU: nvcc builds the runner and kernels, every kernel is checked
 * against cuBLAS on the same masked weight (with odd M to exercise the tails), and the CLI's
 * `bench kernel --target cuda` runs end to end. CI has no GPU: the suite skips there and says
 * why; it runs on the GPU machine (`device-pack`, then `run`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, describe, expect, it } from 'vitest';
import type { Graph, Tensor } from '../../../src/model/graph.js';
import { makeMask } from '../../../src/prune/masks.js';
import type { ModelSparsity } from '../../../src/plan/sparsity.js';
import { CudaBackend } from '../../../backends/cuda/cuda-backend.js';
import { cudaUnavailableReason } from '../../../backends/cuda/fingerprint.js';
import { engineForSm } from '../../../backends/cuda/lower.js';

const reason = cudaUnavailableReason();
const hasCuda = reason === null;
if (!hasCuda) process.stdout.write(`test/backends/cuda/device.test.ts: skipped: ${reason}\n`);

/** Y = X·W with W stored [K,N] (MatMul), weights seeded. */
function linearGraph(M: number, N: number, K: number): Graph {
  const rng = seedrandom(`cuda-${M}-${N}-${K}`);
  const w = new Float32Array(K * N);
  for (let i = 0; i < w.length; i++) w[i] = (rng() * 2 - 1) * 0.1;
  const tensors = new Map<string, Tensor>([
    ['X', { name: 'X', dtype: 'float32', shape: [M, K] }],
    ['W', { name: 'W', dtype: 'float32', shape: [K, N], data: w }],
    ['Y', { name: 'Y', dtype: 'float32', shape: [M, N] }],
  ]);
  return { name: `lin_${M}x${N}x${K}`, inputs: ['X'], outputs: ['Y'], tensors, nodes: [{ name: 'MatMul_0', opType: 'MatMul', domain: '', inputs: ['X', 'W'], outputs: ['Y'], attrs: {} }], opsetVersion: 17 };
}

function sparsityFor(g: Graph, pattern: string, ratio: number): ModelSparsity {
  const w = g.tensors.get('W')!;
  const mask = makeMask({ data: w.data as Float32Array, shape: w.shape }, pattern, ratio, { axisForChannel: 1, channelMultiple: 16, weightName: 'W' });
  return new Map([['W', { weight: 'W', pattern, precision: 'fp16', shape: w.shape, mask }]]);
}

describe.skipIf(!hasCuda)('CUDA backend on the GPU', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tesa-cuda-'));
  const backend = new CudaBackend({ cacheDir });
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  const protocol = { warmup: 2, minReps: 5, maxReps: 5, ciTarget: 0.05, timeoutMs: 300_000 };

  it('fingerprints the GPU, its SM, the driver and nvcc', async () => {
    const fp = await backend.fingerprint();
    expect(fp.target).toBe('cuda');
    expect(fp.details.sm).toMatch(/^\d+$/);
    expect(fp.details.nvcc).toMatch(/release/);
    expect(fp.id).toMatch(/^[0-9a-f]{16}$/);
  });

  const cases: Array<[string, number, number, number, number]> = [
    ['dense', 0, 200, 128, 256],
    ['block:32x32', 0.75, 200, 128, 256],
    ['block:16x32', 0.9, 256, 96, 160],
    ['tile:64', 0.75, 200, 192, 256],
    ['tile:128', 0.9, 256, 384, 256],
    ['nm:2:4', 0.5, 256, 128, 256],
  ];
  for (const [pattern, ratio, M, N, K] of cases) {
    it(`${pattern} at ${ratio} on ${M}x${N}x${K} matches cuBLAS on the masked weight`, async () => {
      const g = linearGraph(M, N, K);
      const model = await backend.compile(g, pattern === 'dense' ? {} : { sparsity: sparsityFor(g, pattern, ratio) });
      // Hopper takes the wgmma kernels (gemm-gather) for block and tile, other GPUs the wmma ones.
      const hopper = engineForSm((await backend.fingerprint()).details.sm ?? '') === 'wgmma';
      const sparse = pattern.startsWith('block') ? (hopper ? 'gemm-gather' : 'gemm-block') : pattern.startsWith('tile') ? (hopper ? 'gemm-gather' : 'gemm-tile') : 'gemm-nm';
      expect(model.plan[0]!.kernel).toBe(pattern === 'dense' ? 'cublas-dense' : sparse);
      const res = await backend.run(model, { protocol, check: true });
      expect(res.samplesMs).toHaveLength(5);
      expect(res.samplesMs.every((s) => s > 0)).toBe(true);
      // fp16 output, fp32 accumulation in a different order than cuBLAS
      expect(res.check!.maxRelError).toBeLessThan(5e-3);
    });
  }

  it('serves a second compile of the same mask from the kernel cache', async () => {
    const g = linearGraph(256, 128, 256);
    const sp = sparsityFor(g, 'block:32x32', 0.75);
    await backend.compile(g, { sparsity: sp });
    const again = await backend.compile(g, { sparsity: sp });
    expect(again.stats).toMatchObject({ kernelsBuilt: 0, kernelsCached: 2 }); // the model's glue and the sparse kernel
  });

  it('`tesa bench kernel --target cuda` times our kernel beside cuBLAS (and PyTorch when present)', () => {
    const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'bench', 'kernel', '--target', 'cuda', '--pattern', 'block:32x32', '--sparsity', '0.75', '--shape', '1024x768x768', '--json'], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, TESA_CACHE_DIR: cacheDir } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { ours: { maxRelError: number }; cublas: { stats: { medianMs: number } }; speedupVsCublas: number; torch: Array<{ name: string }> };
    expect(out.ours.maxRelError).toBeLessThan(5e-3);
    expect(out.speedupVsCublas).toBeGreaterThan(0);
    let hasTorch = false;
    try {
      execFileSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
      hasTorch = true;
    } catch {
      hasTorch = false;
    }
    if (hasTorch) expect(out.torch.map((t) => t.name)).toContain('torch-bsr-triton');
  });
});
