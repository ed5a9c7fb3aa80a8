/**
 * The gemm-sparse family inside the real backend: a small MLP (MatMul + bias + Relu, then a
 * Gemm with transB and a residual Add) pruned with several patterns compiles to sparse
 * kernels, passes check mode, and its outputs equal onnxruntime-node's on the masked model.
 * Plans come from gemm-sparse's own defaults here (pickPlans: false), so which kernel runs does
 * not depend on timing; plan-in-compile.test.ts covers the timed decisions.
 */
import { afterAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { CpuBackend } from '../../../../backends/cpu/cpu-backend.js';
import { GraphBuilder, int } from '../../../../src/model/graph-builder.js';
import { randomInputs } from '../../../../src/model/inputs.js';
import { runOrt } from '../../../../src/model/ort.js';
import type { Graph, TensorData } from '../../../../src/model/graph.js';
import type { ModelSparsity } from '../../../../src/plan/sparsity.js';
import { makeMask } from '../../../../src/prune/masks.js';
import { QUICK, relError, tempCache } from '../helpers.js';

const cache = tempCache();
const backend = new CpuBackend({ cacheDir: cache.dir });
afterAll(async () => {
  await backend.close();
  cache.cleanup();
});

function rand(n: number, seed: string): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

function mlp(): Graph {
  const b = new GraphBuilder('sparse_mlp', 17);
  const x = b.input('x', 'float32', [24, 64]);
  const w1 = b.initializer('w1', rand(64 * 128, 'w1'), [64, 128]); // MatMul [K,N]
  const b1 = b.initializer('b1', rand(128, 'b1'), [128]);
  const h = b.node('Relu', [b.node('Add', [b.node('MatMul', [x, w1], {}, { outputShape: [24, 128] }), b1])]);
  const w2 = b.initializer('w2', rand(64 * 128, 'w2'), [64, 128]); // Gemm transB: [N,K]
  const y = b.node('Gemm', [h, w2], { transB: int(1) }, { outputShape: [24, 64] });
  return b.build([b.node('Add', [y, x])]);
}

function prune(g: Graph, pattern: string, ratio: number): ModelSparsity {
  const sp: ModelSparsity = new Map();
  for (const [name, axis] of [['w1', 1], ['w2', 0]] as const) {
    const t = g.tensors.get(name)!;
    const data = t.data as Float32Array;
    const mask = makeMask({ data, shape: t.shape }, pattern, ratio, { axisForChannel: axis, weightName: name });
    for (let i = 0; i < mask.length; i++) if (!mask[i]) data[i] = 0;
    sp.set(name, { weight: name, pattern, precision: 'fp32', shape: [...t.shape], mask });
  }
  return sp;
}

describe('gemm-sparse in the cpu backend', () => {
  it.each([
    ['block:1x32', 0.8],
    ['fine', 0.9],
    ['tile:32', 0.75],
    ['row', 0.5],
  ] as Array<[string, number]>)('%s at %f: sparse kernels chosen, check mode clean, equal to onnxruntime', async (pattern, ratio) => {
    const g = mlp();
    const sparsity = prune(g, pattern, ratio);
    const model = await backend.compile(g, { sparsity, pickPlans: false });
    expect(model.plan.filter((p) => p.kernel === 'gemm-sparse').map((p) => p.node).length).toBe(2);
    const inputs = randomInputs(g, 3);
    const r = await backend.run(model, { protocol: QUICK, check: true, wantOutputs: true, inputs: new Map(Object.entries(inputs)) as Map<string, Float32Array> });
    expect(r.check!.maxRelError).toBeLessThan(1e-5);
    const ort = await runOrt(g, inputs as Record<string, TensorData>);
    for (const [name, v] of r.outputs!) expect(relError(v, ort.get(name)!.data as Float32Array)).toBeLessThan(1e-5);
  });
  it('large masks keep their structure as data: layers of one shape share one kernel, outputs equal onnxruntime', async () => {
    const b = new GraphBuilder('two_layers', 17);
    const x = b.input('x', 'float32', [16, 256]);
    const w1 = b.initializer('w1', rand(256 * 256, 'v1'), [256, 256]);
    const w2 = b.initializer('w2', rand(256 * 256, 'v2'), [256, 256]);
    const h = b.node('MatMul', [x, w1], {}, { outputShape: [16, 256] });
    const g = b.build([b.node('MatMul', [h, w2], {}, { outputShape: [16, 256] })]);
    const sparsity: ModelSparsity = new Map();
    for (const name of ['w1', 'w2']) {
      const t = g.tensors.get(name)!;
      const data = t.data as Float32Array;
      // 32768 kept weights each: past the size guard, so the structure goes to the data.
      const mask = makeMask({ data, shape: t.shape }, 'block:1x32', 0.5, { weightName: name });
      for (let i = 0; i < mask.length; i++) if (!mask[i]) data[i] = 0;
      sparsity.set(name, { weight: name, pattern: 'block:1x32', precision: 'fp32', shape: [...t.shape], mask });
    }
    const model = await backend.compile(g, { sparsity, pickPlans: false });
    const sparseOps = model.plan.filter((p) => p.kernel === 'gemm-sparse');
    expect(sparseOps.length).toBe(2);
    expect(model.kernels.length).toBe(1);
    const inputs = randomInputs(g, 5);
    const r = await backend.run(model, { protocol: QUICK, check: true, wantOutputs: true, inputs: new Map(Object.entries(inputs)) as Map<string, Float32Array> });
    expect(r.check!.maxRelError).toBeLessThan(1e-5);
    const ort = await runOrt(g, inputs as Record<string, TensorData>);
    for (const [name, v] of r.outputs!) expect(relError(v, ort.get(name)!.data as Float32Array)).toBeLessThan(1e-5);
  });
  it('a weight without a sparsity entry, or a dense-ish mask, stays with gemm-dense', async () => {
    const g = mlp();
    const sparsity = prune(g, 'fine', 0.3);
    const model = await backend.compile(g, { sparsity, pickPlans: false });
    expect(model.plan.some((p) => p.kernel === 'gemm-sparse')).toBe(false);
  });
});
