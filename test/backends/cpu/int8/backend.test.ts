/**
 * Precision int8 through the real CPU backend: a MatMul (+ bias + GELU fused) whose weight's
 * WeightSparsity says int8 is planned onto gemm-int8, built, verified by the runner against
 * the integer reference, and its outputs stay within quantization error of the fp32 model.
 */
import { afterAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { CpuBackend } from '../../../../backends/cpu/cpu-backend.js';
import { readCpuInfo } from '../../../../backends/cpu/fingerprint.js';
import { makeMask } from '../../../../src/prune/masks.js';
import type { Graph, Tensor } from '../../../../src/model/graph.js';
import type { ModelSparsity } from '../../../../src/plan/sparsity.js';
import { measuredRelativeError } from '../../../../src/quant/error.js';
import { tempCache } from '../helpers.js';
import { chooseInt8Plans } from '../../../../backends/cpu/kernels/int8/choose.js';
import { recordInt8Decision } from '../../../../backends/cpu/kernels/int8/decisions.js';

const flags = readCpuInfo().flags;

function linearGraph(M: number, K: number, N: number): Graph {
  const rng = seedrandom('lin');
  const w = Float32Array.from({ length: K * N }, () => rng() * 2 - 1);
  const b = Float32Array.from({ length: N }, () => rng() - 0.5);
  const tensors = new Map<string, Tensor>([
    ['X', { name: 'X', dtype: 'float32', shape: [M, K] }],
    ['W', { name: 'W', dtype: 'float32', shape: [K, N], data: w }],
    ['B', { name: 'B', dtype: 'float32', shape: [N], data: b }],
    ['H', { name: 'H', dtype: 'float32', shape: [M, N] }],
    ['Y', { name: 'Y', dtype: 'float32', shape: [M, N] }],
  ]);
  return {
    name: 'linear', inputs: ['X'], outputs: ['Y'], tensors, opsetVersion: 17,
    nodes: [
      { name: 'mm', opType: 'MatMul', domain: '', inputs: ['X', 'W'], outputs: ['H'], attrs: {} },
      { name: 'add', opType: 'Add', domain: '', inputs: ['H', 'B'], outputs: ['Y'], attrs: {} },
    ],
  };
}

describe.skipIf(!flags.includes('avx2'))('gemm-int8 in the cpu backend', () => {
  const cache = tempCache('tesa-int8-');
  afterAll(() => cache.cleanup());

  const cases: Array<[string, string, number, number]> = [
    ['dense int8', 'dense', 0, 0],
    ['int8 block:1x32 at 75%', 'block:1x32', 0.75, 0],
    ['int8 block:1x32 + 2% fp32 outliers', 'block:1x32', 0.75, 0.02],
  ];
  for (const [title, pattern, ratio, outliers] of cases) {
    it(title, async () => {
      const [M, K, N] = [24, 96, 64];
      const graph = linearGraph(M, K, N);
      const w = graph.tensors.get('W')!;
      // The mask is over the stored [K,N] layout; makeMask's math view is N×K.
      const maskNK = pattern === 'dense' ? new Uint8Array(N * K).fill(1) : makeMask({ data: transpose(w.data as Float32Array, K, N), shape: [N, K] }, pattern, ratio);
      const mask = transposeMask(maskNK, N, K);
      const masked = new Float32Array(w.data as Float32Array);
      for (let i = 0; i < masked.length; i++) if (!mask[i]) masked[i] = 0;
      graph.tensors.set('W', { ...w, data: masked });
      const sparsity: ModelSparsity = new Map([['W', { weight: 'W', pattern, precision: 'int8', shape: [K, N], mask, outliers }]]);

      const backend = new CpuBackend({ cacheDir: cache.dir });
      try {
        const fp32 = await backend.compile(graph);
        const int8 = await backend.compile(graph, { sparsity });
        const kernels = JSON.stringify(int8);
        expect(kernels).toContain('gemm-int8');
        const x = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37));
        const run = async (m: typeof fp32): Promise<Float32Array> => {
          const s = await backend.openSession(m, { X: x });
          try {
            await s.time(1);
            return (await s.outputs()).get('Y')!;
          } finally {
            await s.close();
          }
        };
        const ref = await run(fp32);
        const got = await run(int8);
        const err = measuredRelativeError(ref, got);
        expect(err).toBeGreaterThan(1e-5); // quantized for real
        expect(err).toBeLessThan(0.03);
      } finally {
        await backend.close();
      }
    }, 240_000);
  }
});

describe.skipIf(!flags.includes('avx2'))('decomposed vs assimilated (mixed int8 + fp32 outliers)', () => {
  const cache = tempCache('tesa-int8-choose-');
  afterAll(() => cache.cleanup());

  it('times both, keeps the decision, and the backend follows it', async () => {
    const [M, K, N] = [16, 64, 32];
    const graph = linearGraph(M, K, N);
    const mask = new Uint8Array(K * N).fill(1);
    const sparsity: ModelSparsity = new Map([['W', { weight: 'W', pattern: 'dense', precision: 'int8', shape: [K, N], mask, outliers: 0.02 }]]);
    const backend = new CpuBackend({ cacheDir: cache.dir });
    try {
      const fp = await backend.fingerprint();
      const [c] = await chooseInt8Plans(graph, sparsity, fp, { reps: 5, budgetMs: 200 });
      expect(c!.node).toBe('mm');
      expect(c!.decision.decomposedMs).toBeGreaterThan(0);
      expect(c!.decision.assimilatedMs).toBeGreaterThan(0);
      expect(c!.decision.plan).toBe(c!.decision.decomposedMs < c!.decision.assimilatedMs ? 'decomposed' : 'assimilated');
      // Force each outcome in turn: the backend plans the op accordingly.
      recordInt8Decision({ ...c!.decision, plan: 'assimilated' });
      expect(JSON.stringify(await backend.compile(graph, { sparsity }))).not.toContain('gemm-int8');
      recordInt8Decision({ ...c!.decision, plan: 'decomposed' });
      expect(JSON.stringify(await backend.compile(graph, { sparsity }))).toContain('gemm-int8');
    } finally {
      await backend.close();
    }
  }, 240_000);
});

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

function transposeMask(a: Uint8Array, rows: number, cols: number): Uint8Array {
  const t = new Uint8Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}
