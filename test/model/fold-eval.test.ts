/**
 * The folding kernels against onnxruntime: each case is one node over constants whose output
 * is the graph output (so folding leaves it to onnxruntime); our TS evaluation of the same
 * node must give the same dtype, shape and values.
 */
import { describe, expect, it } from 'vitest';
import type { Attr, DType, TensorData } from '../../src/model/graph.js';
import { evaluateNode } from '../../src/model/fold-eval.js';
import { inferShapes } from '../../src/model/shape-inference.js';
import { runOrt } from '../../src/model/ort.js';
import { HandGraph, int, ints } from './hand-graphs.js';

type Lit = { dtype: DType; shape: number[]; values: number[] };
const i64 = (values: number[], shape = [values.length]): Lit => ({ dtype: 'int64', shape, values });
const f32 = (values: number[], shape = [values.length]): Lit => ({ dtype: 'float32', shape, values });
const bool = (values: number[], shape = [values.length]): Lit => ({ dtype: 'bool', shape, values });

function data(l: Lit): TensorData {
  switch (l.dtype) {
    case 'int64':
      return BigInt64Array.from(l.values.map((v) => BigInt(v)));
    case 'float32':
      return Float32Array.from(l.values);
    case 'bool':
      return Uint8Array.from(l.values);
    case 'int32':
      return Int32Array.from(l.values);
    default:
      throw new Error(l.dtype);
  }
}

const CASES: [string, string, Lit[], Record<string, Attr>?][] = [
  ['Add int64 broadcast', 'Add', [i64([1, 2, 3, 4, 5, 6], [2, 3]), i64([10, 20, 30])]],
  ['Sub float', 'Sub', [f32([1]), f32([0.25, 3, -2])]],
  ['Mul float', 'Mul', [f32([1.5, -2]), f32([-10000], [])]],
  ['Div int64 truncates toward zero', 'Div', [i64([7, -7, 9]), i64([2, 2, -4])]],
  ['Div float', 'Div', [f32([1, -3]), f32([8])]],
  ['Mod int64 (sign of divisor)', 'Mod', [i64([7, -7, 7, -7]), i64([3, 3, -3, -3])]],
  ['Pow', 'Pow', [f32([2, 3, 0.5]), f32([2])]],
  ['Max', 'Max', [i64([1, 5, 3]), i64([4])]],
  ['Min', 'Min', [f32([1, 5, 3]), f32([2, 2, 2])]],
  ['Equal', 'Equal', [i64([1, 2, 3]), i64([2])]],
  ['Less', 'Less', [f32([1, 2, 3]), f32([2])]],
  ['Greater', 'Greater', [i64([1, 2, 3]), i64([2])]],
  ['GreaterOrEqual', 'GreaterOrEqual', [i64([1, 2, 3]), i64([2])]],
  ['And', 'And', [bool([1, 0, 1]), bool([1, 1, 0])]],
  ['Or', 'Or', [bool([1, 0, 0]), bool([0, 0, 1])]],
  ['Not', 'Not', [bool([1, 0])]],
  ['Where', 'Where', [bool([1, 0, 1]), f32([-3.4028234663852886e38]), f32([0, 1, 2])]],
  ['Neg', 'Neg', [i64([3, -4])]],
  ['Abs', 'Abs', [f32([-1.5, 2])]],
  ['Sqrt', 'Sqrt', [f32([2, 64])]],
  ['Reciprocal', 'Reciprocal', [f32([3, -0.5])]],
  ['Floor', 'Floor', [f32([-1.5, 2.5])]],
  ['Ceil', 'Ceil', [f32([-1.5, 2.5])]],
  ['Relu', 'Relu', [f32([-1, 2])]],
  ['Exp', 'Exp', [f32([0, 1, -2])]],
  ['Log', 'Log', [f32([1, 10])]],
  ['Sigmoid', 'Sigmoid', [f32([0, 3, -3])]],
  ['Tanh', 'Tanh', [f32([0, 0.5, -2])]],
  ['Erf', 'Erf', [f32([0, 0.3, -1.2, 2.5])]],
  ['Cast float → int64 truncates', 'Cast', [f32([1.7, -1.7, 3])], { to: int(7) }],
  ['Cast int64 → bool', 'Cast', [i64([0, 2, -1])], { to: int(9) }],
  ['Cast int64 → float', 'Cast', [i64([3, -1])], { to: int(1) }],
  ['Gather axis 0 negative index', 'Gather', [i64([1, 2, 3, 4, 5, 6], [3, 2]), i64([-1, 0])]],
  ['Gather axis 1 scalar', 'Gather', [i64([1, 2, 3, 4, 5, 6], [2, 3]), i64([2], [])], { axis: int(1) }],
  ['Concat axis 1', 'Concat', [i64([1, 2], [2, 1]), i64([3, 4, 5, 6], [2, 2])], { axis: int(1) }],
  ['Slice steps', 'Slice', [i64([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), i64([8]), i64([1]), i64([0]), i64([-3])]],
  ['Slice 2-D to the end', 'Slice', [i64([0, 1, 2, 3, 4, 5], [2, 3]), i64([1]), i64([9223372036854775807]), i64([1])]],
  ['Transpose', 'Transpose', [i64([0, 1, 2, 3, 4, 5], [1, 2, 3])], { perm: ints([2, 0, 1]) }],
  ['Expand', 'Expand', [i64([1, 2], [2, 1]), i64([2, 3])]],
  ['Tile', 'Tile', [i64([1, 2], [1, 2]), i64([2, 2])]],
  ['Range int', 'Range', [i64([10], []), i64([1], []), i64([-3], [])]],
  ['Range float', 'Range', [f32([0], []), f32([1], []), f32([0.25], [])]],
  ['ConstantOfShape', 'ConstantOfShape', [i64([2, 3])], { value: { type: 'tensor', value: { name: '', dtype: 'int64', shape: [1], data: BigInt64Array.of(7n) } } }],
  ['Reshape', 'Reshape', [i64([1, 2, 3, 4, 5, 6]), i64([3, -1])]],
  ['Unsqueeze', 'Unsqueeze', [i64([1, 2]), i64([0])]],
  ['Squeeze', 'Squeeze', [i64([1, 2], [1, 2]), i64([0])]],
  ['Flatten', 'Flatten', [i64([1, 2, 3, 4], [2, 1, 2])], { axis: int(2) }],
  ['Shape with start', 'Shape', [f32([0, 0, 0, 0, 0, 0], [1, 2, 3])], { start: int(1) }],
  ['Size', 'Size', [f32([0, 0, 0, 0, 0, 0], [1, 2, 3])]],
];

describe('folding kernels agree with onnxruntime', () => {
  for (const [label, op, lits, attrs] of CASES) {
    it(label, async () => {
      const b = new HandGraph(label);
      const ins = lits.map((l, i) => b.const(`c${i}`, l.dtype, l.shape, data(l)));
      const out = b.op1(op, ins, attrs ?? {}, 'node');
      const g = b.graph([out], 17);
      inferShapes(g);
      const ours = evaluateNode({ graph: g, source: label }, g.nodes[0]);
      expect(ours, 'evaluated').toBeDefined();
      const ref = (await runOrt(g, {})).get(out)!;
      const t = g.tensors.get(out)!;
      expect(t.dtype).toBe(ref.dtype);
      expect(t.shape).toEqual(ref.shape);
      const got = Array.from(ours![0] as ArrayLike<number | bigint>, Number);
      const want = Array.from(ref.data as ArrayLike<number | bigint>, Number);
      if (t.dtype === 'float32') {
        got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i]))));
      } else expect(got).toEqual(want);
    });
  }
});
