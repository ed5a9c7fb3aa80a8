/**
 * The CUDA lowering on op forms the zoo does not exercise (Gemm with transB and bias, Flatten,
 * activations, a Transpose of a lazy expression feeding a batched MatMul with a broadcast batch,
 * Squeeze/Unsqueeze), each checked against onnxruntime through the reference interpreter; and
 * the refusals that name the node.
 */
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { linearMathWeight, lowerGraph, type LinearSource } from '../../../../backends/cuda/model/lower-graph.js';
import { runReference } from '../../../../backends/cuda/model/reference.js';
import { GraphBuilder, int, ints } from '../../../../src/model/graph-builder.js';
import type { Graph } from '../../../../src/model/graph.js';
import { runOrt } from '../../../../src/model/ort.js';

function rand(n: number, seed: string, scale = 1): Float32Array {
  const r = seedrandom(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

async function agree(g: Graph, inputs: Record<string, Float32Array>): Promise<number> {
  const p = lowerGraph(g);
  const ours = runReference(p, { inputs: new Map(Object.entries(inputs)), weight: (d) => linearMathWeight(g, d as LinearSource).w });
  const ort = await runOrt(g, inputs);
  let worst = 0;
  for (const [name, v] of ours) {
    const o = ort.get(name)!.data as Float32Array;
    expect(v.length).toBe(o.length);
    let scale = 1e-3;
    for (const x of o) scale = Math.max(scale, Math.abs(x));
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i]! - o[i]!) / scale);
  }
  return worst;
}

describe('CUDA lowering of single ops', () => {
  it('Gemm (transB, bias) → Relu → Gemm → Sigmoid, on a Flatten of a 4-D input', async () => {
    const b = new GraphBuilder('gemms', 17);
    const x = b.input('x', 'float32', [8, 2, 4, 4]);
    const f = b.node('Flatten', [x], { axis: int(1) });
    const w1 = b.initializer('w1', rand(48 * 32, 'w1', 0.2), [48, 32]);
    const b1 = b.initializer('b1', rand(48, 'b1'), [48]);
    const h = b.node('Relu', [b.node('Gemm', [f, w1, b1], { transB: int(1) })]);
    const w2 = b.initializer('w2', rand(48 * 16, 'w2', 0.2), [48, 16]);
    const y = b.node('Sigmoid', [b.node('Gemm', [h, w2])]);
    const g = b.build([b.rename(y, 'y')]);
    expect(await agree(g, { x: rand(8 * 32, 'x') })).toBeLessThan(3e-3);
    expect(lowerGraph(g).linears.map((l) => l.stored)).toEqual(['NK', 'KN']);
  });

  it('a lazy expression transposed into a batched MatMul that broadcasts its batch, then Squeeze/Unsqueeze', async () => {
    const b = new GraphBuilder('bmm', 17);
    const a = b.input('a', 'float32', [2, 3, 8, 5]);
    const c = b.input('c', 'float32', [3, 8, 6]);
    // tanh(a)·2 transposed to [2,3,5,8], times c broadcast over the leading 2: [2,3,5,6]
    const t = b.node('Transpose', [b.node('Mul', [b.node('Tanh', [a]), b.scalar(2)])], { perm: ints([0, 1, 3, 2]) });
    const m = b.node('MatMul', [t, c]);
    const u = b.node('Unsqueeze', [m, b.constant([0], 'int64')]);
    const s = b.node('Squeeze', [u, b.constant([0], 'int64')], {}, { outputShape: [2, 3, 5, 6] });
    const y = b.node('Softmax', [s], { axis: int(-1) });
    const g = b.build([b.rename(y, 'y')]);
    expect(await agree(g, { a: rand(2 * 3 * 8 * 5, 'a'), c: rand(3 * 8 * 6, 'c') })).toBeLessThan(3e-3);
  });

  it('refuses Softmax over an inner axis, naming the node', async () => {
    const b = new GraphBuilder('refuse', 17);
    const x = b.input('x', 'float32', [4, 6, 8]);
    const y = b.node('Softmax', [x], { axis: int(1) }, { name: 'inner_softmax' });
    const g = b.build([b.rename(y, 'y')]);
    expect(() => lowerGraph(g)).toThrow("node 'inner_softmax' (Softmax): axis 1: only the last axis is supported");
  });
});
