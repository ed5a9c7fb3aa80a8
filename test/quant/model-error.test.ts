import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import type { Graph, Tensor } from '../../src/model/graph.js';
import type { ModelSparsity } from '../../src/plan/sparsity.js';
import { modelQuantError } from '../../src/quant/model-error.js';
import { ProxyEvaluator } from '../../src/evaluate/proxy.js';
import type { EvaluationContext } from '../../src/evaluate/evaluator.js';

function mlp(): Graph {
  const rng = seedrandom('mlp');
  const w = (k: number, n: number): Float32Array => Float32Array.from({ length: k * n }, () => rng() * 2 - 1);
  const tensors = new Map<string, Tensor>([
    ['X', { name: 'X', dtype: 'float32', shape: [4, 32] }],
    ['W1', { name: 'W1', dtype: 'float32', shape: [32, 16], data: w(32, 16) }],
    ['H', { name: 'H', dtype: 'float32', shape: [4, 16] }],
    ['W2', { name: 'W2', dtype: 'float32', shape: [16, 8], data: w(16, 8) }],
    ['Y', { name: 'Y', dtype: 'float32', shape: [4, 8] }],
  ]);
  return {
    name: 'mlp', inputs: ['X'], outputs: ['Y'], tensors, opsetVersion: 17,
    nodes: [
      { name: 'mm1', opType: 'MatMul', domain: '', inputs: ['X', 'W1'], outputs: ['H'], attrs: {} },
      { name: 'mm2', opType: 'MatMul', domain: '', inputs: ['H', 'W2'], outputs: ['Y'], attrs: {} },
    ],
  };
}

const int8 = (name: string, shape: number[], outliers = 0): ModelSparsity =>
  new Map([[name, { weight: name, pattern: 'dense', precision: 'int8' as const, shape, mask: new Uint8Array(shape[0]! * shape[1]!).fill(1), outliers }]]);

describe('model quantization error', () => {
  it('is zero for fp32 and small but positive for int8 weights; outliers lower it', () => {
    const g = mlp();
    expect(modelQuantError(g, new Map()).max).toBe(0);
    const e = modelQuantError(g, int8('W1', [32, 16]));
    expect(Object.keys(e.perWeight)).toEqual(['W1']);
    expect(e.max).toBeGreaterThan(1e-3);
    expect(e.max).toBeLessThan(0.05);
    const ranges = new Map([['X', { min: -1, max: 1, absMax: 1, rms: 0.5, count: 128 }]]);
    expect(modelQuantError(g, int8('W1', [32, 16]), { ranges }).max).toBeLessThan(e.max);
    expect(modelQuantError(g, int8('W1', [32, 16], 0.05)).perWeight.W1!).toBeLessThan(e.perWeight.W1!);
    expect(modelQuantError(g, int8('W1', [32, 16]), { qmax: 63 }).max).toBeGreaterThan(e.max);
  });

  it('makes the proxy score an int8 candidate below the fp32 one', async () => {
    const g = mlp();
    const ev = new ProxyEvaluator();
    const ctx = (sparsity: ModelSparsity): EvaluationContext => ({ graph: g, maskedGraph: g, sparsity } as unknown as EvaluationContext);
    const fp32 = await ev.evaluate(ctx(new Map()));
    const q = await ev.evaluate(ctx(int8('W2', [16, 8])));
    expect(fp32.score).toBe(1);
    expect(q.score).toBeLessThan(1);
    expect(q.score).toBeGreaterThan(0.97);
    expect(q.details?.maxQuantError).toBeGreaterThan(0);
  });
});
