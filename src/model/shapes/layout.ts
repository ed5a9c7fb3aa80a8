/**
 * Shape rules of ops that move, select or create data: reshapes, slices, gathers, reductions,
 * and the shape ops PyTorch's exporter emits (Shape, ConstantOfShape, Range, Cast, Constant).
 */
import { attrInt, attrInts, type DType, type Node } from '../graph.js';
import { dtypeFromOnnx } from '../onnx/tensor-codec.js';
import { broadcast, constInput, fmtShape, hasInput, input, normAxis, shapeError, type ShapeContext, type ShapeRule } from './common.js';

/** Axes from the attribute (older opsets) or the optional input (newer ones). */
function axesOf(ctx: ShapeContext, node: Node, inputIndex: number): number[] | undefined {
  if (node.attrs.axes) return attrInts(node, 'axes');
  if (hasInput(node, inputIndex)) return constInput(ctx, node, inputIndex, 'axes');
  return undefined;
}

const reshape: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const target = constInput(ctx, node, 1, 'target shape');
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  const total = x.shape.reduce((a, b) => a * b, 1);
  const out = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
  if (out.some((d) => d === undefined)) throw shapeError(ctx, node, `copies a dim (0) that input ${fmtShape(x.shape)} lacks in ${fmtShape(target)}`);
  const minus = out.filter((d) => d === -1).length;
  if (minus > 1) throw shapeError(ctx, node, `has more than one -1 in ${fmtShape(target)}`);
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  if (minus === 1) {
    if (known === 0 || total % known !== 0) throw shapeError(ctx, node, `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(target)}`);
    out[out.indexOf(-1)] = total / known;
  } else if (known !== total) {
    throw shapeError(ctx, node, `cannot reshape ${fmtShape(x.shape)} (${total} elements) to ${fmtShape(target)}`);
  }
  return [{ dtype: x.dtype, shape: out }];
};

const transpose: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const r = x.shape.length;
  const perm = attrInts(node, 'perm', x.shape.map((_, i) => r - 1 - i));
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw shapeError(ctx, node, `has perm ${fmtShape(perm)} that does not fit ${fmtShape(x.shape)}`);
  return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }];
};

const flatten: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const r = x.shape.length;
  let axis = attrInt(node, 'axis', 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) throw shapeError(ctx, node, `has axis ${attrInt(node, 'axis', 1)} out of range for ${fmtShape(x.shape)}`);
  const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  return [{ dtype: x.dtype, shape: [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))] }];
};

const squeeze: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const axes = axesOf(ctx, node, 1);
  if (!axes) return [{ dtype: x.dtype, shape: x.shape.filter((d) => d !== 1) }];
  const drop = new Set(axes.map((a) => normAxis(ctx, node, a, x.shape.length)));
  for (const a of drop) if (x.shape[a] !== 1) throw shapeError(ctx, node, `squeezes axis ${a} of ${fmtShape(x.shape)}, which is not 1`);
  return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !drop.has(i)) }];
};

const unsqueeze: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const axes = axesOf(ctx, node, 1);
  if (!axes) throw shapeError(ctx, node, 'has no axes');
  const r = x.shape.length + axes.length;
  const ins = new Set(axes.map((a) => normAxis(ctx, node, a, r)));
  if (ins.size !== axes.length) throw shapeError(ctx, node, `repeats an axis in ${fmtShape(axes)}`);
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) out.push(ins.has(i) ? 1 : x.shape[j++]);
  return [{ dtype: x.dtype, shape: out }];
};

const concat: ShapeRule = (node, ctx) => {
  const ins = node.inputs.filter((n) => n !== '').map((_, i) => input(ctx, node, i));
  const r = ins[0].shape.length;
  const axis = normAxis(ctx, node, attrInt(node, 'axis'), r);
  const out = [...ins[0].shape];
  out[axis] = 0;
  for (const t of ins) {
    if (t.shape.length !== r || t.shape.some((d, i) => i !== axis && d !== ins[0].shape[i])) {
      throw shapeError(ctx, node, `cannot concatenate ${ins.map((q) => fmtShape(q.shape)).join(' and ')} on axis ${axis}`);
    }
    out[axis] += t.shape[axis];
  }
  return [{ dtype: ins[0].dtype, shape: out }];
};

/** Split sizes from the input (opset ≥ 13), the attribute (older), or num_outputs/equal parts. */
export function splitSizes(ctx: ShapeContext, node: Node, dim: number): number[] {
  let sizes: number[] | undefined;
  if (hasInput(node, 1)) sizes = constInput(ctx, node, 1, 'split sizes');
  else if (node.attrs.split) sizes = attrInts(node, 'split');
  if (!sizes) {
    const n = node.attrs.num_outputs ? attrInt(node, 'num_outputs') : node.outputs.length;
    const part = Math.ceil(dim / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(part, dim - i * part)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== dim || sizes.length !== node.outputs.length) {
    throw shapeError(ctx, node, `splits a dim of ${dim} into ${fmtShape(sizes)} over ${node.outputs.length} outputs`);
  }
  return sizes;
}

const split: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const axis = normAxis(ctx, node, attrInt(node, 'axis', 0), x.shape.length);
  return splitSizes(ctx, node, x.shape[axis]).map((s) => {
    const shape = [...x.shape];
    shape[axis] = s;
    return { dtype: x.dtype, shape };
  });
};

export interface SliceParams {
  /** Per input axis: first index, step and count of selected elements. */
  start: number[];
  step: number[];
  count: number[];
}

/** ONNX Slice semantics (negative indices, clamping, negative steps), for shapes and for folding. */
export function sliceParams(ctx: ShapeContext, node: Node, shape: readonly number[]): SliceParams {
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (node.attrs.starts) {
    starts = attrInts(node, 'starts');
    ends = attrInts(node, 'ends');
    axes = node.attrs.axes ? attrInts(node, 'axes') : undefined;
  } else {
    starts = constInput(ctx, node, 1, 'starts');
    ends = constInput(ctx, node, 2, 'ends');
    if (hasInput(node, 3)) axes = constInput(ctx, node, 3, 'axes');
    if (hasInput(node, 4)) steps = constInput(ctx, node, 4, 'steps');
  }
  const r = shape.length;
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  const p: SliceParams = { start: shape.map(() => 0), step: shape.map(() => 1), count: [...shape] };
  axes.forEach((ax, i) => {
    const a = normAxis(ctx, node, ax, r);
    const d = shape[a];
    const step = steps![i];
    if (step === 0) throw shapeError(ctx, node, 'has a step of 0');
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    p.start[a] = s;
    p.step[a] = step;
    p.count[a] = Math.max(0, Math.ceil((e - s) / step));
  });
  return p;
}

const slice: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  return [{ dtype: x.dtype, shape: sliceParams(ctx, node, x.shape).count }];
};

const gather: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const idx = input(ctx, node, 1);
  const axis = normAxis(ctx, node, attrInt(node, 'axis', 0), x.shape.length);
  return [{ dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)] }];
};

const gatherElements: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const idx = input(ctx, node, 1);
  if (idx.shape.length !== x.shape.length) throw shapeError(ctx, node, `indices ${fmtShape(idx.shape)} and data ${fmtShape(x.shape)} differ in rank`);
  return [{ dtype: x.dtype, shape: [...idx.shape] }];
};

const expand: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const target = constInput(ctx, node, 1, 'target shape');
  return [{ dtype: x.dtype, shape: broadcast(ctx, node, [x.shape, target]) }];
};

const tile: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const reps = constInput(ctx, node, 1, 'repeats');
  if (reps.length !== x.shape.length) throw shapeError(ctx, node, `repeats ${fmtShape(reps)} do not fit ${fmtShape(x.shape)}`);
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * reps[i]) }];
};

const pad: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const r = x.shape.length;
  const pads = node.attrs.pads ? attrInts(node, 'pads') : constInput(ctx, node, 1, 'pads');
  const axes = hasInput(node, 3) ? constInput(ctx, node, 3, 'axes').map((a) => normAxis(ctx, node, a, r)) : x.shape.map((_, i) => i);
  if (pads.length !== 2 * axes.length) throw shapeError(ctx, node, `has ${pads.length} pads for ${axes.length} axes of ${fmtShape(x.shape)}`);
  const shape = [...x.shape];
  axes.forEach((a, i) => (shape[a] += pads[i] + pads[i + axes.length]));
  if (shape.some((d) => d < 0)) throw shapeError(ctx, node, `pads ${fmtShape(pads)} remove more than ${fmtShape(x.shape)} has`);
  return [{ dtype: x.dtype, shape }];
};

const reduce: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const axes = axesOf(ctx, node, 1);
  const r = x.shape.length;
  let set: Set<number>;
  if (!axes || axes.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0) === 1) return [{ dtype: x.dtype, shape: [...x.shape] }];
    set = new Set(x.shape.map((_, i) => i));
  } else set = new Set(axes.map((a) => normAxis(ctx, node, a, r)));
  const shape = keep ? x.shape.map((d, i) => (set.has(i) ? 1 : d)) : x.shape.filter((_, i) => !set.has(i));
  return [{ dtype: x.dtype, shape }];
};

const argReduce: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const axis = normAxis(ctx, node, attrInt(node, 'axis', 0), x.shape.length);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  return [{ dtype: 'int64', shape: keep ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis) }];
};

const shapeOp: ShapeRule = (node, ctx) => {
  const r = input(ctx, node, 0).shape.length;
  let start = attrInt(node, 'start', 0);
  let end = attrInt(node, 'end', r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = Math.min(Math.max(start, 0), r);
  end = Math.min(Math.max(end, 0), r);
  return [{ dtype: 'int64', shape: [Math.max(0, end - start)] }];
};

const size: ShapeRule = () => [{ dtype: 'int64', shape: [] }];

const cast: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  return [{ dtype: dtypeFromOnnx(attrInt(node, 'to'), `${ctx.source}: node '${node.name}' (Cast) target`), shape: [...x.shape] }];
};

const constant: ShapeRule = (node, ctx) => {
  const a = node.attrs;
  if (a.value?.type === 'tensor') return [{ dtype: a.value.value.dtype, shape: [...a.value.value.shape] }];
  if (a.value_float) return [{ dtype: 'float32', shape: [] }];
  if (a.value_int) return [{ dtype: 'int64', shape: [] }];
  if (a.value_floats?.type === 'floats') return [{ dtype: 'float32', shape: [a.value_floats.value.length] }];
  if (a.value_ints?.type === 'ints') return [{ dtype: 'int64', shape: [a.value_ints.value.length] }];
  throw shapeError(ctx, node, `has no value attribute tesa understands (${Object.keys(a).join(', ') || 'none'})`);
};

const constantOfShape: ShapeRule = (node, ctx) => {
  const shape = constInput(ctx, node, 0, 'shape');
  const v = node.attrs.value;
  const dtype: DType = v?.type === 'tensor' ? v.value.dtype : 'float32';
  return [{ dtype, shape }];
};

const range: ShapeRule = (node, ctx) => {
  const [start] = constInput(ctx, node, 0, 'start');
  const [limit] = constInput(ctx, node, 1, 'limit');
  const [delta] = constInput(ctx, node, 2, 'delta');
  if (delta === 0) throw shapeError(ctx, node, 'has a delta of 0');
  return [{ dtype: input(ctx, node, 0).dtype, shape: [Math.max(0, Math.ceil((limit - start) / delta))] }];
};

export const LAYOUT_RULES: Record<string, ShapeRule> = {
  Reshape: reshape,
  Transpose: transpose,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ArgMax: argReduce,
  ArgMin: argReduce,
  Shape: shapeOp,
  Size: size,
  Cast: cast,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
};

