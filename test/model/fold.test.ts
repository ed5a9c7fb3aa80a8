import { describe, expect, it } from 'vitest';
import { cloneGraph, toNumbers, type Graph } from '../../src/model/graph.js';
import { eliminateDeadNodes, removeIdentities, simplifyGraph } from '../../src/model/fold.js';
import { inferShapes } from '../../src/model/shape-inference.js';
import { runOrt } from '../../src/model/ort.js';
import { randomInputs } from '../../src/model/inputs.js';
import { HandGraph, int, ints } from './hand-graphs.js';

/** x [2,6,8] → PyTorch's view(b, s, 2, 4) written as Shape→Gather→Unsqueeze→Concat→Reshape, then Identity. */
function pytorchView(): Graph {
  const b = new HandGraph('view');
  const x = b.input('x', 'float32', [2, 6, 8]);
  const shp = b.op1('Shape', [x]);
  const d0 = b.op1('Gather', [shp, b.const('zero', 'int64', [], BigInt64Array.of(0n))], { axis: int(0) });
  const d1 = b.op1('Gather', [shp, b.const('one', 'int64', [], BigInt64Array.of(1n))], { axis: int(0) });
  const u0 = b.op1('Unsqueeze', [d0, b.ints('axes0', [0])]);
  const u1 = b.op1('Unsqueeze', [d1, b.ints('axes1', [0])]);
  const c = b.op1('Constant', [], { value: { type: 'tensor', value: { name: '', dtype: 'int64', shape: [2], data: BigInt64Array.of(2n, 4n) } } });
  const target = b.op1('Concat', [u0, u1, c], { axis: int(0) });
  const r = b.op1('Reshape', [x, target], {}, 'view_reshape');
  const id = b.op1('Identity', [r], {}, 'inner_identity');
  const y = b.op1('Mul', [id, b.weight('w', [4])], {}, 'scale');
  const out = b.op1('Identity', [y], {}, 'out_identity');
  return b.graph([out], 13);
}

describe('constant folding', () => {
  it('folds the Shape→Gather→Unsqueeze→Concat sub-graph into a constant Reshape target', async () => {
    const g = pytorchView();
    inferShapes(g);
    const before = cloneGraph(g);
    const report = simplifyGraph(g);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Reshape', 'Mul']);
    expect(report).toEqual({ folded: 7, identitiesRemoved: 2, deadRemoved: 0 });
    const reshape = g.nodes[0];
    const target = g.tensors.get(reshape.inputs[1])!;
    expect(target.dtype).toBe('int64');
    expect(toNumbers(target.data!)).toEqual([2, 6, 2, 4]);
    // The Identity before Mul is gone; the output Identity's name survives as Mul's output.
    expect(g.nodes[1].inputs[0]).toBe(reshape.outputs[0]);
    expect(g.outputs).toEqual(['out_identity_out0']);
    expect(g.nodes[1].outputs).toEqual(['out_identity_out0']);
    // Folded intermediates and the Shape ops' constants are gone from the tensor table.
    expect([...g.tensors.keys()].sort()).toEqual([reshape.inputs[1], 'out_identity_out0', 'view_reshape_out0', 'w', 'x'].sort());

    const feeds = randomInputs(before, 3);
    const want = (await runOrt(before, feeds)).get('out_identity_out0')!;
    const got = (await runOrt(g, feeds)).get('out_identity_out0')!;
    expect(got.shape).toEqual([2, 6, 2, 4]);
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
  });

  it('folds mask plumbing (ConstantOfShape, Equal, Where, Expand, Range, Cast) but never a runtime input', async () => {
    const b = new HandGraph('mask');
    const x = b.input('x', 'float32', [1, 4, 4]);
    const shp = b.op1('Shape', [x]);
    const ones = b.op1('ConstantOfShape', [shp], { value: { type: 'tensor', value: { name: '', dtype: 'int64', shape: [1], data: BigInt64Array.of(1n) } } });
    const rng = b.op1('Range', [b.const('s', 'int64', [], BigInt64Array.of(0n)), b.const('l', 'int64', [], BigInt64Array.of(4n)), b.const('d', 'int64', [], BigInt64Array.of(1n))]);
    const eq = b.op1('Equal', [rng, b.const('two', 'int64', [], BigInt64Array.of(2n))]);
    const sel = b.op1('Where', [eq, b.const('big', 'int64', [], BigInt64Array.of(9223372036854775807n)), ones]);
    const exp = b.op1('Expand', [b.op1('Cast', [sel], { to: int(1) }), b.ints('tgt', [1, 4, 4])]);
    const y = b.op1('Mul', [x, exp], {}, 'apply');
    const g = b.graph([y]);
    inferShapes(g);
    const before = cloneGraph(g);
    simplifyGraph(g);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Mul']);
    const folded = g.tensors.get(g.nodes[0].inputs[1])!;
    expect(folded.shape).toEqual([1, 4, 4]);
    // column 2 holds float(INT64_MAX)
    expect(Array.from(folded.data as Float32Array).slice(0, 4)).toEqual([1, 1, Math.fround(9223372036854775807), 1]);
    const feeds = randomInputs(before, 5);
    expect(Array.from((await runOrt(g, feeds)).get('apply_out0')!.data as Float32Array)).toEqual(Array.from((await runOrt(before, feeds)).get('apply_out0')!.data as Float32Array));
  });

  it('Slice with negative steps and Gather with negative indices fold like onnxruntime computes them', async () => {
    const b = new HandGraph('slice');
    const x = b.input('x', 'float32', [3, 5]);
    const data = b.const('table', 'int64', [3, 5], BigInt64Array.from({ length: 15 }, (_, i) => BigInt(i * 10)));
    const sl = b.op1('Slice', [data, b.ints('st', [-1, 4]), b.ints('en', [-10, 0]), b.ints('ax', [0, 1]), b.ints('sp', [-1, -2])]);
    const ga = b.op1('Gather', [sl, b.ints('gi', [-1, 0])], { axis: int(1) });
    const f = b.op1('Cast', [ga], { to: int(1) });
    const y = b.op1('Add', [b.op1('Slice', [x, b.ints('s2', [0]), b.ints('e2', [2]), b.ints('a2', [1])]), f], {}, 'sum');
    const g = b.graph([y]);
    inferShapes(g);
    const before = cloneGraph(g);
    // Our folded value, computed in TS, vs onnxruntime computing the same constant chain.
    const ortOut = await runOrt(before, randomInputs(before, 1), { outputs: [f] });
    simplifyGraph(g);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Slice', 'Add']);
    expect(Array.from(g.tensors.get(f)!.data as Float32Array)).toEqual(Array.from(ortOut.get(f)!.data as Float32Array));
    expect(g.tensors.get(f)!.shape).toEqual(ortOut.get(f)!.shape);
  });

  it('leaves weights alone: a Transpose of a weight matrix is not duplicated into a folded copy', () => {
    const b = new HandGraph('weights');
    const x = b.input('x', 'float32', [2, 32]);
    const wt = b.op1('Transpose', [b.weight('fc.weight', [32, 32])], { perm: ints([1, 0]) });
    const y = b.op1('MatMul', [x, wt]);
    const g = b.graph([y]);
    simplifyGraph(g);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Transpose', 'MatMul']);
  });

  it('dead-node elimination drops what reaches no output, Identity removal keeps graph input names', () => {
    const b = new HandGraph('dead');
    const x = b.input('x', 'float32', [2]);
    b.op1('Relu', [x], {}, 'unused');
    const y = b.op1('Identity', [x], {}, 'passthrough');
    const g = b.graph([y]);
    inferShapes(g);
    expect(removeIdentities(g)).toBe(0); // an input feeding an output needs its Identity
    expect(eliminateDeadNodes(g)).toBe(1);
    expect(g.nodes.map((n) => n.name)).toEqual(['passthrough']);
  });
});
