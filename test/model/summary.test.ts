import { describe, expect, it } from 'vitest';
import { simplifyGraph } from '../../src/model/fold.js';
import { graphFlops } from '../../src/model/flops.js';
import { summarize } from '../../src/model/summary.js';
import { attention, HandGraph, int } from './hand-graphs.js';

describe('summarize', () => {
  it('weights are rank ≥ 2 float constants read by MatMul (either side), Gemm (A or B) or Conv; tables and vectors are only parameters', () => {
    const b = new HandGraph('rules');
    const x = b.input('x', 'float32', [4, 6]);
    const ids = b.input('ids', 'int64', [4]);
    const e = b.op1('Gather', [b.weight('table', [10, 6]), ids]);
    const h = b.op1('Add', [x, e]);
    const m1 = b.op1('MatMul', [h, b.weight('right', [6, 6])]);
    const m2 = b.op1('MatMul', [b.weight('left', [4, 4]), m1]);
    const g1 = b.op1('Gemm', [b.weight('gemm_a', [3, 4]), m2, b.weight('gemm_c', [6])]);
    const y = b.op1('Mul', [g1, b.weight('scale', [3, 6])]);
    const g = b.graph([y]);
    simplifyGraph(g);
    const s = summarize(g);
    expect(s.weights.map((w) => [w.name, w.op])).toEqual([
      ['right', 'MatMul'],
      ['left', 'MatMul'],
      ['gemm_a', 'Gemm'],
    ]);
    expect(s.parameters).toBe(60 + 36 + 16 + 12 + 6 + 18);
    expect(s.ops).toEqual({ Add: 1, Gather: 1, Gemm: 1, MatMul: 2, Mul: 1 });
  });

  it('counts after folding: the attention block has no shape plumbing left, and FLOPs follow 2·M·N·K', () => {
    const g = attention();
    simplifyGraph(g);
    const s = summarize(g);
    expect(s.ops.Shape).toBeUndefined();
    expect(s.ops.Concat).toBeUndefined();
    expect(s.ops.Identity).toBeUndefined();
    expect(s.weights.map((w) => w.shape)).toEqual([[16, 16], [16, 16], [16, 16], [16, 16], [16, 32], [32, 16]]);
    const { perNode } = graphFlops(g);
    const qk = g.nodes.find((n) => n.opType === 'MatMul' && !g.tensors.get(n.inputs[1])!.data)!;
    // q [1,2,8,8] × k [1,2,8,8]: batch 2 of 8×8×8
    expect(perNode.get(qk.name)).toBe(2 * 2 * 8 * 8 * 8);
    expect(perNode.get('embed')).toBe(0);
  });

  it('Gemm with transA counts K from the right side', () => {
    const b = new HandGraph('gemm');
    const x = b.input('x', 'float32', [7, 3]);
    const y = b.op1('Gemm', [x, b.weight('w', [7, 5])], { transA: int(1) }, 'g');
    const g = b.graph([y]);
    simplifyGraph(g);
    expect(graphFlops(g).total).toBe(2 * 3 * 5 * 7);
  });
});
