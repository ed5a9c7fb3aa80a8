/**
 * Shape rules checked against onnxruntime: each case is a one-node graph; our inferred output
 * shape must equal the shape onnxruntime computes. Plus the errors for shapes that do not fit.
 */
import { describe, expect, it } from 'vitest';
import type { Attr, DType, Graph } from '../../src/model/graph.js';
import { inferShapes, supportedOps } from '../../src/model/shape-inference.js';
import { runOrt } from '../../src/model/ort.js';
import { randomInputs } from '../../src/model/inputs.js';
import { HandGraph, int, ints } from './hand-graphs.js';

interface Case {
  label: string;
  op: string;
  inputs: { shape: number[]; dtype?: DType; ints?: number[] }[];
  attrs?: Record<string, Attr>;
  outputs?: number;
  opset?: number;
}

const str = (value: string): Attr => ({ type: 'string', value });

const CASES: Case[] = [
  { label: 'MatMul batched broadcast', op: 'MatMul', inputs: [{ shape: [2, 1, 3, 4] }, { shape: [5, 4, 6] }] },
  { label: 'MatMul vector × matrix', op: 'MatMul', inputs: [{ shape: [4] }, { shape: [4, 6] }] },
  { label: 'MatMul matrix × vector', op: 'MatMul', inputs: [{ shape: [2, 3, 4] }, { shape: [4] }] },
  { label: 'Gemm transA transB', op: 'Gemm', inputs: [{ shape: [4, 3] }, { shape: [5, 4] }, { shape: [5] }], attrs: { transA: int(1), transB: int(1) } },
  { label: 'Conv strided, padded, dilated', op: 'Conv', inputs: [{ shape: [1, 4, 17, 15] }, { shape: [6, 4, 3, 3] }], attrs: { strides: ints([2, 3]), pads: ints([1, 0, 2, 1]), dilations: ints([2, 1]) } },
  { label: 'Conv grouped', op: 'Conv', inputs: [{ shape: [2, 8, 9, 9] }, { shape: [4, 4, 3, 3] }], attrs: { group: int(2) } },
  { label: 'Conv depthwise SAME_UPPER stride 2', op: 'Conv', inputs: [{ shape: [1, 6, 11, 10] }, { shape: [6, 1, 3, 3] }], attrs: { group: int(6), auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) } },
  { label: 'Conv VALID', op: 'Conv', inputs: [{ shape: [1, 2, 10, 10] }, { shape: [3, 2, 4, 4] }], attrs: { auto_pad: str('VALID'), strides: ints([3, 3]) } },
  { label: 'Conv 1-D', op: 'Conv', inputs: [{ shape: [1, 2, 10] }, { shape: [3, 2, 3] }], attrs: { pads: ints([1, 1]) } },
  { label: 'MaxPool ceil_mode', op: 'MaxPool', inputs: [{ shape: [1, 3, 10, 10] }], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), ceil_mode: int(1) } },
  { label: 'MaxPool padded', op: 'MaxPool', inputs: [{ shape: [1, 3, 9, 9] }], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
  { label: 'AveragePool', op: 'AveragePool', inputs: [{ shape: [1, 3, 8, 8] }], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
  { label: 'GlobalAveragePool', op: 'GlobalAveragePool', inputs: [{ shape: [2, 5, 7, 3] }] },
  { label: 'BatchNormalization', op: 'BatchNormalization', inputs: [{ shape: [2, 3, 4, 4] }, { shape: [3] }, { shape: [3] }, { shape: [3] }, { shape: [3] }] },
  { label: 'LayerNormalization axis -1', op: 'LayerNormalization', inputs: [{ shape: [2, 5, 8] }, { shape: [8] }, { shape: [8] }], attrs: { axis: int(-1) } },
  { label: 'Add broadcast', op: 'Add', inputs: [{ shape: [2, 1, 4] }, { shape: [3, 1] }] },
  { label: 'Where broadcast', op: 'Where', inputs: [{ shape: [1, 4], dtype: 'bool' }, { shape: [3, 1] }, { shape: [] }] },
  { label: 'Pow', op: 'Pow', inputs: [{ shape: [2, 3] }, { shape: [] }] },
  { label: 'Equal → bool', op: 'Equal', inputs: [{ shape: [2, 3], dtype: 'int64' }, { shape: [3], dtype: 'int64' }] },
  { label: 'Clip with bounds', op: 'Clip', inputs: [{ shape: [2, 3] }, { shape: [] }, { shape: [] }] },
  { label: 'Softmax', op: 'Softmax', inputs: [{ shape: [2, 3, 4] }], attrs: { axis: int(1) } },
  { label: 'Concat', op: 'Concat', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }], attrs: { axis: int(-2) } },
  { label: 'Split by input (opset 13)', op: 'Split', inputs: [{ shape: [2, 10] }, { shape: [3], dtype: 'int64', ints: [2, 3, 5] }], attrs: { axis: int(1) }, outputs: 3, opset: 13 },
  { label: 'Split by attribute (opset 11)', op: 'Split', inputs: [{ shape: [6, 2] }], attrs: { split: ints([4, 2]) }, outputs: 2, opset: 11 },
  { label: 'Split num_outputs (opset 18)', op: 'Split', inputs: [{ shape: [2, 10] }], attrs: { axis: int(1), num_outputs: int(3) }, outputs: 3, opset: 18 },
  { label: 'Split equal parts (opset 13)', op: 'Split', inputs: [{ shape: [9, 2] }], outputs: 3, opset: 13 },
  { label: 'Slice negative step', op: 'Slice', inputs: [{ shape: [5, 10] }, { shape: [2], dtype: 'int64', ints: [-1, 8] }, { shape: [2], dtype: 'int64', ints: [-9223372036854775807, 1] }, { shape: [2], dtype: 'int64', ints: [0, 1] }, { shape: [2], dtype: 'int64', ints: [-2, -3] }] },
  { label: 'Slice to the end (INT64_MAX)', op: 'Slice', inputs: [{ shape: [4, 6] }, { shape: [1], dtype: 'int64', ints: [2] }, { shape: [1], dtype: 'int64', ints: [9223372036854775807] }, { shape: [1], dtype: 'int64', ints: [1] }] },
  { label: 'Slice attribute form (opset 9)', op: 'Slice', inputs: [{ shape: [4, 6] }], attrs: { starts: ints([1]), ends: ints([-1]), axes: ints([1]) }, opset: 9 },
  { label: 'Reshape with 0 and -1', op: 'Reshape', inputs: [{ shape: [2, 3, 4] }, { shape: [3], dtype: 'int64', ints: [0, -1, 2] }] },
  { label: 'Transpose', op: 'Transpose', inputs: [{ shape: [2, 3, 4] }], attrs: { perm: ints([2, 0, 1]) } },
  { label: 'Transpose default', op: 'Transpose', inputs: [{ shape: [2, 3, 4] }] },
  { label: 'Flatten axis 2', op: 'Flatten', inputs: [{ shape: [2, 3, 4, 5] }], attrs: { axis: int(2) } },
  { label: 'Squeeze by input (opset 13)', op: 'Squeeze', inputs: [{ shape: [1, 3, 1, 2] }, { shape: [1], dtype: 'int64', ints: [-2] }] },
  { label: 'Squeeze all (opset 13)', op: 'Squeeze', inputs: [{ shape: [1, 3, 1, 2] }] },
  { label: 'Squeeze by attribute (opset 11)', op: 'Squeeze', inputs: [{ shape: [1, 3, 1, 2] }], attrs: { axes: ints([0]) }, opset: 11 },
  { label: 'Unsqueeze by input (opset 13)', op: 'Unsqueeze', inputs: [{ shape: [3, 4] }, { shape: [2], dtype: 'int64', ints: [0, -1] }] },
  { label: 'Unsqueeze by attribute (opset 11)', op: 'Unsqueeze', inputs: [{ shape: [3, 4] }], attrs: { axes: ints([1, 3]) }, opset: 11 },
  { label: 'ReduceMean by attribute (opset 13)', op: 'ReduceMean', inputs: [{ shape: [2, 3, 4] }], attrs: { axes: ints([-1]) }, opset: 13 },
  { label: 'ReduceMean by input, keepdims 0 (opset 18)', op: 'ReduceMean', inputs: [{ shape: [2, 3, 4] }, { shape: [2], dtype: 'int64', ints: [0, 2] }], attrs: { keepdims: int(0) }, opset: 18 },
  { label: 'Gather axis 1 with 2-D indices', op: 'Gather', inputs: [{ shape: [3, 7, 2] }, { shape: [2, 2], dtype: 'int64', ints: [0, 6, 3, 1] }], attrs: { axis: int(1) } },
  { label: 'Gather scalar index', op: 'Gather', inputs: [{ shape: [3, 7] }, { shape: [], dtype: 'int64', ints: [2] }] },
  { label: 'GatherElements', op: 'GatherElements', inputs: [{ shape: [3, 4] }, { shape: [2, 4], dtype: 'int64', ints: [0, 1, 2, 0, 1, 1, 0, 2] }] },
  { label: 'Expand', op: 'Expand', inputs: [{ shape: [3, 1] }, { shape: [3], dtype: 'int64', ints: [2, 1, 4] }] },
  { label: 'Pad by input (opset 13)', op: 'Pad', inputs: [{ shape: [1, 2, 5, 5] }, { shape: [8], dtype: 'int64', ints: [0, 0, 1, 2, 0, 0, 3, -1] }] },
  { label: 'Pad by attribute (opset 10)', op: 'Pad', inputs: [{ shape: [2, 5] }], attrs: { pads: ints([1, 0, 1, 2]) }, opset: 10 },
  { label: 'Cast to int64', op: 'Cast', inputs: [{ shape: [2, 3] }], attrs: { to: int(7) } },
  { label: 'Erf', op: 'Erf', inputs: [{ shape: [2, 3] }] },
  { label: 'Sqrt', op: 'Sqrt', inputs: [{ shape: [2, 3] }] },
  { label: 'Reciprocal', op: 'Reciprocal', inputs: [{ shape: [2, 3] }] },
  { label: 'Sigmoid', op: 'Sigmoid', inputs: [{ shape: [2, 3] }] },
  { label: 'Tanh', op: 'Tanh', inputs: [{ shape: [2, 3] }] },
  { label: 'Gelu (opset 20)', op: 'Gelu', inputs: [{ shape: [2, 3] }], opset: 20 },
];

function oneNode(c: Case): Graph {
  const b = new HandGraph(c.label);
  const ins = c.inputs.map((spec, i) => {
    const name = `in${i}`;
    if (spec.ints) return b.const(name, 'int64', spec.shape, BigInt64Array.from(spec.ints.map((v) => BigInt(v))));
    if (i > 0 && !['Where', 'Add', 'Pow', 'MatMul', 'Equal', 'Concat'].includes(c.op)) return b.weight(name, spec.shape);
    return b.input(name, spec.dtype ?? 'float32', spec.shape);
  });
  const outs = b.op(c.op, ins, c.attrs ?? {}, c.outputs ?? 1, 'node');
  return b.graph(outs, c.opset ?? 17);
}

describe('shape inference agrees with onnxruntime', () => {
  for (const c of CASES) {
    it(c.label, async () => {
      const g = oneNode(c);
      inferShapes(g, 'case.onnx');
      const got = await runOrt(g, randomInputs(g, 1));
      for (const o of g.outputs) {
        expect(g.tensors.get(o)!.shape, o).toEqual(got.get(o)!.shape);
        expect(g.tensors.get(o)!.dtype, o).toBe(got.get(o)!.dtype);
      }
    });
  }

  it('covers every op of the issue', () => {
    const required = `MatMul Gemm Conv BatchNormalization Relu Clip Sigmoid Tanh Erf Gelu Add Sub Mul Div Pow Sqrt Reciprocal Concat Split Slice Reshape
      Transpose Flatten Squeeze Unsqueeze Softmax LayerNormalization ReduceMean GlobalAveragePool MaxPool AveragePool Gather GatherElements Where Expand Cast
      Identity Constant Shape Equal Range ConstantOfShape`.split(/\s+/);
    expect(required.filter((op) => !supportedOps().includes(op))).toEqual([]);
  });
});

describe('shapes that do not fit', () => {
  it('MatMul with mismatched inner dims names the node and both shapes', () => {
    const g = oneNode({ label: 'mm', op: 'MatMul', inputs: [{ shape: [2, 3] }, { shape: [4, 5] }] });
    expect(() => inferShapes(g, 'model.onnx')).toThrowError("model.onnx: node 'node' (MatMul) cannot multiply [2,3] by [4,5]: inner dims 3 and 4 differ");
  });

  it('Conv whose channels do not match the weight', () => {
    const g = oneNode({ label: 'conv', op: 'Conv', inputs: [{ shape: [1, 3, 8, 8] }, { shape: [4, 2, 3, 3] }] });
    expect(() => inferShapes(g, 'model.onnx')).toThrowError(/node 'node' \(Conv\) input \[1,3,8,8\] does not fit weight \[4,2,3,3\] with group=1/);
  });

  it('Reshape to an incompatible size', () => {
    const g = oneNode({ label: 'r', op: 'Reshape', inputs: [{ shape: [2, 3] }, { shape: [1], dtype: 'int64', ints: [5] }] });
    expect(() => inferShapes(g, 'model.onnx')).toThrowError("model.onnx: node 'node' (Reshape) cannot reshape [2,3] (6 elements) to [5]");
  });

  it('an op tesa does not know', () => {
    const g = oneNode({ label: 'u', op: 'NonMaxSuppression', inputs: [{ shape: [1, 3, 4] }] });
    try {
      inferShapes(g, 'model.onnx');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toBe("model.onnx: node 'node' has op 'NonMaxSuppression' that tesa does not support");
      expect((e as { hint: string }).hint).toMatch(/^supported ops: .*MatMul.*re-export/);
    }
  });
});
