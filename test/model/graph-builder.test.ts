import { describe, expect, it } from 'vitest';
import { TesaError } from '../../src/errors.js';
import { GraphBuilder, ONNX_DTYPE, float, int, ints } from '../../src/model/graph-builder.js';
import { topoSort } from '../../src/model/graph.js';
import { runOrt } from '../../src/model/ort.js';

function expectInternal(fn: () => unknown, fragment: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TesaError);
    expect((e as TesaError).code).toBe('INTERNAL');
    expect((e as TesaError).message).toMatch(fragment);
    return;
  }
  throw new Error('expected a TesaError');
}

describe('GraphBuilder naming', () => {
  it('names nodes and outputs like torch.onnx.export and makes repeats unique', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2, 3]);
    const w = b.initializer('fc.weight', new Float32Array(6), [3, 2]);
    const [first, second, top] = b.scope('encoder', () =>
      b.scope('layer.0', () => [b.node('MatMul', [x, w]), b.node('MatMul', [x, w]), b.scope('x', () => b.node('Relu', [x]))]),
    );
    expect(first).toBe('/encoder/layer.0/MatMul_output_0');
    expect(second).toBe('/encoder/layer.0/MatMul_1_output_0');
    expect(top).toBe('/encoder/layer.0/x/Relu_output_0');
    expect(b.node('Relu', [x])).toBe('/Relu_output_0');
    const g = b.build([first]);
    expect(g.nodes.map((n) => n.name)).toEqual(['/encoder/layer.0/MatMul', '/encoder/layer.0/MatMul_1', '/encoder/layer.0/x/Relu', '/Relu']);
  });

  it('names small constants per scope and keeps them as data', () => {
    const b = new GraphBuilder('g');
    const a = b.scope('s', () => b.int64s([1, -1]));
    const c = b.scope('s', () => b.scalar(0.5));
    expect(a).toBe('/s/Constant_output_0');
    expect(c).toBe('/s/Constant_1_output_0');
    const g = b.build([]);
    expect(Array.from(g.tensors.get(a)!.data as BigInt64Array)).toEqual([1n, -1n]);
    expect(g.tensors.get(c)).toMatchObject({ dtype: 'float32', shape: [] });
  });

  it('rename moves a tensor and every use of it', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [4]);
    const y = b.node('Relu', [x]);
    const z = b.node('Relu', [y]);
    b.rename(y, 'hidden');
    const g = b.build([b.rename(z, 'out')]);
    expect(g.nodes[0].outputs).toEqual(['hidden']);
    expect(g.nodes[1].inputs).toEqual(['hidden']);
    expect(g.outputs).toEqual(['out']);
    expect(g.tensors.has(y)).toBe(false);
    expect(g.tensors.get('hidden')?.shape).toEqual([4]);
  });

  it('builds a graph in topological order with opset 17 and metadata', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [1, 8]);
    const y = b.node('Relu', [b.node('Relu', [x])]);
    const g = b.build([y], { source: 'test' });
    expect(g.opsetVersion).toBe(17);
    expect(g.metadata).toEqual({ source: 'test' });
    expect(topoSort(g)).toEqual(g.nodes);
  });
});

describe('GraphBuilder shapes', () => {
  const b = new GraphBuilder('shapes');
  const x4 = b.input('x4', 'float32', [1, 16, 28, 28]);
  const ids = b.input('ids', 'int64', [2, 5]);

  it('MatMul broadcasts batch dims; Gemm honours transB', () => {
    const a = b.input('a', 'float32', [2, 1, 7, 3]);
    const w = b.initializer('w3x4', new Float32Array(5 * 3 * 4), [5, 3, 4]);
    expect(b.shape(b.node('MatMul', [a, w]))).toEqual([2, 5, 7, 4]);
    const m = b.input('m', 'float32', [6, 3]);
    const wt = b.initializer('gemm.weight', new Float32Array(4 * 3), [4, 3]);
    expect(b.shape(b.node('Gemm', [m, wt], { transB: int(1) }))).toEqual([6, 4]);
  });

  it('Conv: strides, pads, groups; pooling with and without ceil_mode', () => {
    const dw = b.initializer('dw.weight', new Float32Array(16 * 9), [16, 1, 3, 3]);
    const conv = b.node('Conv', [x4, dw], { group: int(16), kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) });
    expect(b.shape(conv)).toEqual([1, 16, 14, 14]);
    const pw = b.initializer('pw.weight', new Float32Array(32 * 16), [32, 16, 1, 1]);
    expect(b.shape(b.node('Conv', [x4, pw]))).toEqual([1, 32, 28, 28]);
    const pool = { kernel_shape: ints([3, 3]), strides: ints([2, 2]) };
    expect(b.shape(b.node('MaxPool', [x4], pool))).toEqual([1, 16, 13, 13]);
    expect(b.shape(b.node('MaxPool', [x4], { ...pool, ceil_mode: int(1) }))).toEqual([1, 16, 14, 14]);
    expect(b.shape(b.node('GlobalAveragePool', [x4]))).toEqual([1, 16, 1, 1]);
    expect(b.shape(b.node('Flatten', [x4], { axis: int(1) }))).toEqual([1, 16 * 28 * 28]);
  });

  it('Reshape resolves 0 and -1; Transpose, Unsqueeze, Gather, Cast', () => {
    expect(b.shape(b.node('Reshape', [x4, b.int64s([0, -1, 28])]))).toEqual([1, 448, 28]);
    expect(b.shape(b.node('Transpose', [x4], { perm: ints([0, 2, 3, 1]) }))).toEqual([1, 28, 28, 16]);
    expect(b.shape(b.node('Unsqueeze', [ids, b.int64s([1, -1])]))).toEqual([2, 1, 5, 1]);
    const table = b.initializer('emb.weight', new Float32Array(10 * 4), [10, 4]);
    const gathered = b.node('Gather', [table, ids]);
    expect(b.shape(gathered)).toEqual([2, 5, 4]);
    expect(b.dtype(gathered)).toBe('float32');
    const cast = b.node('Cast', [ids], { to: int(ONNX_DTYPE.float32) });
    expect([b.dtype(cast), b.shape(cast)]).toEqual(['float32', [2, 5]]);
  });

  it('rejects nodes whose inputs do not fit, naming the node', () => {
    const w = b.initializer('bad.weight', new Float32Array(15), [5, 3]);
    expectInternal(() => b.node('MatMul', [x4, w], {}, { name: 'proj' }), /node 'proj' \(MatMul\): inner dims differ/);
    expectInternal(() => b.node('Reshape', [x4, b.int64s([5, -1])]), /cannot reshape \[1, 16, 28, 28\]/);
    const w8 = b.initializer('conv8.weight', new Float32Array(8 * 8 * 9), [8, 8, 3, 3]);
    expectInternal(() => b.node('Conv', [x4, w8]), /input has 16 channels, weight expects 8 × group 1/);
    expectInternal(() => b.node('Add', [x4, b.input('odd', 'float32', [3, 1])]), /cannot broadcast/);
    expectInternal(() => b.node('NonZero', [x4]), /no shape rule.*pass outputShape/);
    expectInternal(() => b.node('Relu', ['nowhere']), /reads undefined tensor 'nowhere'/);
    expectInternal(() => b.initializer('short', new Float32Array(3), [2, 2]), /has 3 values but shape \[2, 2\] needs 4/);
    expectInternal(() => b.input('x4', 'float32', [1]), /'x4' is defined twice/);
  });

  it('accepts an explicit output shape for ops it has no rule for', () => {
    const y = b.node('NonZero', [ids], {}, { outputShape: [2, 10], outputDType: 'int64' });
    expect([b.dtype(y), b.shape(y)]).toEqual(['int64', [2, 10]]);
  });
});

describe('GraphBuilder graphs run in onnxruntime', () => {
  it('a Linear + LayerNorm + Softmax graph computes what it says', async () => {
    const b = new GraphBuilder('linear');
    const x = b.input('x', 'float32', [2, 3]);
    const w = b.initializer('fc.weight', Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]);
    const bias = b.initializer('fc.bias', Float32Array.from([0.5, 0.5]), [2]);
    const y = b.node('Add', [bias, b.node('MatMul', [x, w])]);
    const gamma = b.initializer('ln.weight', Float32Array.from([1, 1]), [2]);
    const beta = b.initializer('ln.bias', Float32Array.from([0, 0]), [2]);
    const ln = b.node('LayerNormalization', [y, gamma, beta], { axis: int(-1), epsilon: float(1e-5) });
    const sm = b.node('Softmax', [y], { axis: int(-1) });
    const g = b.build([b.rename(y, 'y'), b.rename(ln, 'ln'), b.rename(sm, 'sm')]);
    const out = await runOrt(g, { x: Float32Array.from([1, 2, 3, -1, 0, 4]) });
    // y = b + x·W: row 0 = [1+3, 2+3] + 0.5; row 1 = [-1+4, 0+4] + 0.5.
    expect(Array.from(out.get('y')!.data as Float32Array)).toEqual([4.5, 5.5, 3.5, 4.5]);
    expect(out.get('y')!.shape).toEqual(g.tensors.get('y')!.shape);
    // Each row is [a, a + 1]: normalised to [-1, 1]; softmax [1, e] / (1 + e).
    const lnOut = Array.from(out.get('ln')!.data as Float32Array);
    [-1, 1, -1, 1].forEach((want, i) => expect(lnOut[i]).toBeCloseTo(want, 4));
    const p = 1 / (1 + Math.E);
    const smOut = Array.from(out.get('sm')!.data as Float32Array);
    [p, 1 - p, p, 1 - p].forEach((want, i) => expect(smOut[i]).toBeCloseTo(want, 6));
  });
});
