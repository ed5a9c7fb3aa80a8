/**
 * The op set beyond what the zoo models exercise, in one hand-built graph whose every branch
 * is a graph output, compared with onnxruntime-node: data movement, reductions, pooling with
 * pads, grouped Conv, Gemm with transB, broadcasting binaries, Where, Cast, GatherElements.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { GraphBuilder, float, int, ints } from '../../../src/model/graph-builder.js';
import { randomInputs } from '../../../src/model/inputs.js';
import { runOrt } from '../../../src/model/ort.js';
import type { TensorData } from '../../../src/model/graph.js';
import { QUICK, relError, tempCache } from './helpers.js';

const cache = tempCache();
const backend = new CpuBackend({ cacheDir: cache.dir });
afterAll(async () => {
  await backend.close();
  cache.cleanup();
});

const vals = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s));

function opsGraph() {
  const b = new GraphBuilder('ops', 17);
  const x = b.input('x', 'float32', [2, 4, 6, 6]);
  const v = b.input('v', 'float32', [2, 3, 8]);
  const outs: string[] = [];
  const o = (name: string): void => {
    outs.push(name);
  };
  // data movement
  o(b.node('Transpose', [v], { perm: ints([2, 0, 1]) }));
  o(b.node('Concat', [v, b.node('Neg', [v])], { axis: int(1) }, { outputShape: [2, 6, 8] }));
  const split = b.node('Split', [v, b.int64s([3, 5])], { axis: int(2) }, { outputs: ['split_a'], outputShape: [2, 3, 3] });
  o(split);
  o(b.node('Slice', [v, b.int64s([1, -6]), b.int64s([3, 100]), b.int64s([1, 2]), b.int64s([1, 2])], {}, { outputShape: [2, 2, 3] }));
  o(b.node('Expand', [b.initializer('e', vals(8), [1, 1, 8]), b.int64s([2, 3, 8])], {}, { outputShape: [2, 3, 8] }));
  // reductions and normalisations
  o(b.node('ReduceMean', [v], { axes: ints([1]), keepdims: int(1) }, { outputShape: [2, 1, 8] }));
  o(b.node('ReduceSum', [v, b.int64s([0, 2])], { keepdims: int(0) }, { outputShape: [3] }));
  o(b.node('Softmax', [v], { axis: int(-1) }));
  o(b.node('LayerNormalization', [v, b.initializer('g', vals(8, 2), [8]), b.initializer('bt', vals(8, 3), [8])], { axis: int(-1), epsilon: float(1e-5) }));
  // element-wise with broadcasting
  o(b.node('Sub', [v, b.initializer('row', vals(8, 4), [8])]));
  o(b.node('Div', [v, b.node('Add', [b.node('Abs', [b.initializer('col', vals(3, 5), [3, 1])], {}, { outputShape: [3, 1] }), b.scalar(0.5)])]));
  o(b.node('Pow', [v, b.scalar(2)]));
  o(b.node('Sqrt', [b.node('Abs', [v], {}, { outputShape: [2, 3, 8] })]));
  o(b.node('Reciprocal', [b.node('Add', [b.node('Abs', [v], {}, { outputShape: [2, 3, 8] }), b.scalar(1)])]));
  o(b.node('Tanh', [v]));
  o(b.node('Sigmoid', [v]));
  o(b.node('Erf', [v]));
  const cond = b.node('Greater', [v, b.scalar(0)], {}, { outputShape: [2, 3, 8], outputDType: 'bool' });
  o(b.node('Where', [cond, v, b.scalar(-1)], {}, { outputShape: [2, 3, 8], outputDType: 'float32' }));
  o(b.node('Cast', [b.node('Cast', [v], { to: int(7) }, { outputDType: 'int64' })], { to: int(1) }));
  o(b.node('GatherElements', [v, b.initializer('gi', BigInt64Array.from({ length: 2 * 3 * 2 }, (_, i) => BigInt(i % 8)), [2, 3, 2], 'int64')], { axis: int(2) }, { outputShape: [2, 3, 2] }));
  o(b.node('Gemm', [b.node('Reshape', [v, b.int64s([6, 8])]), b.initializer('gw', vals(5 * 8, 6), [5, 8]), b.initializer('gb', vals(5, 7), [5])], { transB: int(1), alpha: float(0.5) }));
  // pooling and convolution
  o(b.node('MaxPool', [x], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }));
  o(b.node('AveragePool', [x], { kernel_shape: ints([3, 3]), strides: ints([1, 1]), pads: ints([1, 1, 1, 1]), count_include_pad: int(0) }));
  o(b.node('GlobalAveragePool', [x]));
  o(b.node('Conv', [x, b.initializer('cw', vals(6 * 2 * 3 * 3, 8), [6, 2, 3, 3]), b.initializer('cb', vals(6, 9), [6])], { group: int(2), kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }));
  o(b.node('Relu', [b.node('Conv', [x, b.initializer('dw', vals(4 * 9, 10), [4, 1, 3, 3])], { group: int(4), kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) })]));
  const g = b.build(outs);
  // The builder makes single-output nodes: give Split its second output by hand.
  g.nodes.find((n) => n.opType === 'Split')!.outputs.push('split_b');
  g.tensors.set('split_b', { name: 'split_b', dtype: 'float32', shape: [2, 3, 5] });
  g.outputs.push('split_b');
  return g;
}

describe('op coverage against onnxruntime-node', () => {
  it('every output of the op zoo graph matches', async () => {
    const graph = opsGraph();
    const model = await backend.compile(graph);
    const inputs = randomInputs(graph, 3);
    const res = await backend.run(model, { protocol: QUICK, inputs: new Map(Object.entries(inputs)) as Map<string, Float32Array>, wantOutputs: true, check: true });
    const ort = await runOrt(graph, inputs as Record<string, TensorData>, { threads: 1 });
    const bad: string[] = [];
    for (const name of graph.outputs) {
      const err = relError(res.outputs!.get(name)!, ort.get(name)!.data as unknown as ArrayLike<number>);
      if (!(err <= 1e-4)) bad.push(`${name}: ${err}`);
    }
    expect(bad).toEqual([]);
    expect(res.check!.maxRelError).toBeLessThanOrEqual(1e-4);
    expect(res.check!.perKernel.length).toBeGreaterThan(20);
  }, 240_000);
});
