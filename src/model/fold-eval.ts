/**
 * Evaluates small constant nodes in TypeScript, for constant folding. Values travel as plain
 * numbers (int64 narrowed to doubles, exact for any shape or index value) and are packed into
 * the output's inferred dtype, with integer truncation and int64 clamping like the ONNX ops.
 */
import { TesaError } from '../errors.js';
import { allocData, attrFloat, attrInt, attrInts, numel, toNumbers, type DType, type Node, type Tensor, type TensorData } from './graph.js';
import { normAxis, valueOf, type ShapeContext } from './shapes/common.js';
import { sliceParams } from './shapes/layout.js';

export interface Value {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

type Kernel = (node: Node, ins: Value[], outs: Tensor[], ctx: ShapeContext) => number[][] | undefined;

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

export function packNumbers(dtype: DType, values: readonly number[]): TensorData {
  const out = allocData(dtype, values.length);
  if (out instanceof BigInt64Array) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) out[i] = v > 0 ? INT64_MAX : INT64_MIN;
      else {
        const b = BigInt(Math.trunc(v));
        out[i] = b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b;
      }
    }
  } else if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 && !Number.isNaN(values[i]) ? 1 : 0;
  } else if (dtype === 'float16') {
    throw new TesaError('INTERNAL', 'float16 values are not folded');
  } else {
    const o = out as Exclude<TensorData, BigInt64Array>;
    const isInt = dtype !== 'float32' && dtype !== 'float64';
    for (let i = 0; i < values.length; i++) o[i] = isInt ? Math.trunc(values[i]) : values[i];
  }
  return out;
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** For each flat index of `outShape`, the flat index into a tensor of `inShape` broadcast to it. */
function broadcastIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = numel(outShape);
  const map = new Int32Array(n);
  const off = outShape.length - inShape.length;
  const inStr = strides(inShape);
  const outStr = strides(outShape);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < outShape.length; d++) {
      const c = Math.floor(rem / outStr[d]);
      rem -= c * outStr[d];
      const id = d - off;
      if (id >= 0 && inShape[id] !== 1) j += c * inStr[id];
    }
    map[i] = j;
  }
  return map;
}

function elementwise(fn: (...a: number[]) => number): Kernel {
  return (_node, ins, outs) => {
    const shape = outs[0].shape;
    const maps = ins.map((v) => broadcastIndex(v.shape, shape));
    const vals = ins.map((v) => toNumbers(v.data));
    const n = numel(shape);
    const r = new Array<number>(n);
    for (let i = 0; i < n; i++) r[i] = fn(...vals.map((v, k) => v[maps[k][i]]));
    return [r];
  };
}

/** Integer division truncates (as ORT does); float division does not. */
const div: Kernel = (node, ins, outs, ctx) => {
  const isInt = !['float32', 'float64', 'float16'].includes(outs[0].dtype);
  return elementwise((a, b) => (isInt ? Math.trunc(a / b) : a / b))(node, ins, outs, ctx);
};

const mod: Kernel = (node, ins, outs, ctx) => {
  const fmod = attrInt(node, 'fmod', 0) === 1;
  return elementwise((a, b) => (fmod ? a % b : a - b * Math.floor(a / b)))(node, ins, outs, ctx);
};

const copyValues: Kernel = (_node, ins) => [toNumbers(ins[0].data)];

const gather: Kernel = (node, ins, _outs, ctx) => {
  const [x, idx] = ins;
  const axis = normAxis(ctx, node, attrInt(node, 'axis', 0), x.shape.length);
  const vals = toNumbers(x.data);
  const ids = toNumbers(idx.data).map((i) => (i < 0 ? i + x.shape[axis] : i));
  if (ids.some((i) => i < 0 || i >= x.shape[axis])) return undefined;
  const outer = numel(x.shape.slice(0, axis));
  const inner = numel(x.shape.slice(axis + 1));
  const r: number[] = [];
  for (let o = 0; o < outer; o++) for (const i of ids) for (let k = 0; k < inner; k++) r.push(vals[(o * x.shape[axis] + i) * inner + k]);
  return [r];
};

const concat: Kernel = (node, ins, outs, ctx) => {
  const shape = outs[0].shape;
  const axis = normAxis(ctx, node, attrInt(node, 'axis'), shape.length);
  const outer = numel(shape.slice(0, axis));
  const vals = ins.map((v) => toNumbers(v.data));
  const r: number[] = [];
  for (let o = 0; o < outer; o++) {
    ins.forEach((v, k) => {
      const chunk = numel(v.shape.slice(axis));
      for (let j = 0; j < chunk; j++) r.push(vals[k][o * chunk + j]);
    });
  }
  return [r];
};

const slice: Kernel = (node, ins, outs, ctx) => {
  const x = ins[0];
  const p = sliceParams(ctx, node, x.shape);
  const vals = toNumbers(x.data);
  const inStr = strides(x.shape);
  const outShape = outs[0].shape;
  const outStr = strides(outShape);
  const n = numel(outShape);
  const r = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < outShape.length; d++) {
      const c = Math.floor(rem / outStr[d]);
      rem -= c * outStr[d];
      j += (p.start[d] + c * p.step[d]) * inStr[d];
    }
    r[i] = vals[j];
  }
  return [r];
};

const transpose: Kernel = (node, ins, outs) => {
  const x = ins[0];
  const r0 = x.shape.length;
  const perm = attrInts(node, 'perm', x.shape.map((_, i) => r0 - 1 - i));
  const vals = toNumbers(x.data);
  const inStr = strides(x.shape);
  const outShape = outs[0].shape;
  const outStr = strides(outShape);
  const n = numel(outShape);
  const r = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < outShape.length; d++) {
      const c = Math.floor(rem / outStr[d]);
      rem -= c * outStr[d];
      j += c * inStr[perm[d]];
    }
    r[i] = vals[j];
  }
  return [r];
};

const expand: Kernel = (_node, ins, outs) => {
  const map = broadcastIndex(ins[0].shape, outs[0].shape);
  const vals = toNumbers(ins[0].data);
  return [Array.from(map, (j) => vals[j])];
};

const tile: Kernel = (_node, ins, outs) => {
  const x = ins[0];
  const vals = toNumbers(x.data);
  const inStr = strides(x.shape);
  const outShape = outs[0].shape;
  const outStr = strides(outShape);
  const n = numel(outShape);
  const r = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < outShape.length; d++) {
      const c = Math.floor(rem / outStr[d]);
      rem -= c * outStr[d];
      j += (c % x.shape[d]) * inStr[d];
    }
    r[i] = vals[j];
  }
  return [r];
};

const shape: Kernel = (node, ins) => {
  const r = ins[0].shape.length;
  let start = attrInt(node, 'start', 0);
  let end = attrInt(node, 'end', r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  return [ins[0].shape.slice(Math.max(0, start), Math.max(0, end))];
};

const constant: Kernel = (node) => {
  const a = node.attrs;
  if (a.value?.type === 'tensor' && a.value.value.data) return [toNumbers(a.value.value.data)];
  if (a.value_float) return [[attrFloat(node, 'value_float')]];
  if (a.value_int) return [[attrInt(node, 'value_int')]];
  if (a.value_floats?.type === 'floats') return [a.value_floats.value];
  if (a.value_ints?.type === 'ints') return [a.value_ints.value];
  return undefined;
};

const constantOfShape: Kernel = (node, _ins, outs) => {
  const v = node.attrs.value;
  const fill = v?.type === 'tensor' && v.value.data ? toNumbers(v.value.data)[0] : 0;
  return [new Array<number>(numel(outs[0].shape)).fill(fill)];
};

const range: Kernel = (_node, ins, outs) => {
  const start = toNumbers(ins[0].data)[0];
  const delta = toNumbers(ins[2].data)[0];
  return [Array.from({ length: numel(outs[0].shape) }, (_, i) => start + i * delta)];
};

const where: Kernel = elementwise((c, x, y) => (c ? x : y));

const erf = (x: number): number => {
  // Numerical Recipes' erfc Chebyshev fit: relative error below 1.2e-7, i.e. float32 precision.
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    1 -
    t *
      Math.exp(
        -x * x -
          1.26551223 +
          t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
};

const KERNELS: Record<string, Kernel> = {
  Identity: copyValues,
  Reshape: copyValues,
  Flatten: copyValues,
  Squeeze: copyValues,
  Unsqueeze: copyValues,
  Cast: copyValues,
  Constant: constant,
  Shape: shape,
  Size: (_n, ins) => [[numel(ins[0].shape)]],
  ConstantOfShape: constantOfShape,
  Range: range,
  Gather: gather,
  Concat: concat,
  Slice: slice,
  Transpose: transpose,
  Expand: expand,
  Tile: tile,
  Where: where,
  Add: elementwise((a, b) => a + b),
  Sub: elementwise((a, b) => a - b),
  Mul: elementwise((a, b) => a * b),
  Div: div,
  Mod: mod,
  Pow: elementwise((a, b) => a ** b),
  Max: elementwise((...a) => Math.max(...a)),
  Min: elementwise((...a) => Math.min(...a)),
  Equal: elementwise((a, b) => (a === b ? 1 : 0)),
  Less: elementwise((a, b) => (a < b ? 1 : 0)),
  LessOrEqual: elementwise((a, b) => (a <= b ? 1 : 0)),
  Greater: elementwise((a, b) => (a > b ? 1 : 0)),
  GreaterOrEqual: elementwise((a, b) => (a >= b ? 1 : 0)),
  And: elementwise((a, b) => (a && b ? 1 : 0)),
  Or: elementwise((a, b) => (a || b ? 1 : 0)),
  Xor: elementwise((a, b) => ((a ? 1 : 0) ^ (b ? 1 : 0))),
  Not: elementwise((a) => (a ? 0 : 1)),
  Neg: elementwise((a) => -a),
  Abs: elementwise((a) => Math.abs(a)),
  Sqrt: elementwise((a) => Math.sqrt(a)),
  Reciprocal: elementwise((a) => 1 / a),
  Floor: elementwise((a) => Math.floor(a)),
  Ceil: elementwise((a) => Math.ceil(a)),
  Relu: elementwise((a) => Math.max(0, a)),
  Exp: elementwise((a) => Math.exp(a)),
  Log: elementwise((a) => Math.log(a)),
  Sigmoid: elementwise((a) => 1 / (1 + Math.exp(-a))),
  Tanh: elementwise((a) => Math.tanh(a)),
  Erf: elementwise(erf),
};

/** Ops `evaluate` knows; a node of another op is never folded. */
export function canEvaluate(opType: string): boolean {
  return Object.prototype.hasOwnProperty.call(KERNELS, opType);
}

/**
 * Computes the node's outputs (their dtypes and shapes already inferred into `outs`), or
 * undefined when the values cannot be folded (float16, out-of-range indices: left to runtime).
 */
export function evaluate(ctx: ShapeContext, node: Node, ins: Value[], outs: Tensor[]): TensorData[] | undefined {
  if (!canEvaluate(node.opType)) return undefined;
  if (ins.some((v) => v.dtype === 'float16') || outs.some((t) => t.dtype === 'float16')) return undefined;
  const values = KERNELS[node.opType](node, ins, outs, ctx);
  if (!values) return undefined;
  return values.map((v, i) => packNumbers(outs[i].dtype, v));
}

export interface EvaluateLimits {
  /** Largest output, in elements. */
  maxElements: number;
  /** Float inputs larger than this (weights) are never evaluated over. */
  weightGuard: number;
}

export const DEFAULT_LIMITS: EvaluateLimits = { maxElements: 65536, weightGuard: 256 };

const SHAPE_ONLY_OPS = new Set(['Shape', 'Size']);

function isFloat(t: Tensor): boolean {
  return t.dtype === 'float32' || t.dtype === 'float16' || t.dtype === 'float64';
}

/**
 * The node's output values if they can be computed now: every input constant (or computed
 * into ctx.values), Shape/Size needing only a known shape, outputs small, no weight read.
 * A Constant's own tensor is returned whatever its size: its data moves, nothing is copied.
 */
export function evaluateNode(ctx: ShapeContext, node: Node, limits: EvaluateLimits = DEFAULT_LIMITS): TensorData[] | undefined {
  const g = ctx.graph;
  const outs = node.outputs.map((o) => g.tensors.get(o)!);
  if (node.opType === 'Constant' && node.attrs.value?.type === 'tensor' && node.attrs.value.value.data) return [node.attrs.value.value.data];
  if (!canEvaluate(node.opType) || outs.some((t) => !t || numel(t.shape) > limits.maxElements)) return undefined;
  const ins: Value[] = [];
  for (const name of node.inputs) {
    if (!name) continue;
    const t = g.tensors.get(name)!;
    if (SHAPE_ONLY_OPS.has(node.opType)) {
      ins.push({ dtype: t.dtype, shape: t.shape, data: new Float32Array(0) });
      continue;
    }
    const data = valueOf(ctx, name);
    if (data === undefined) return undefined;
    if (isFloat(t) && numel(t.shape) > limits.weightGuard) return undefined;
    ins.push({ dtype: t.dtype, shape: t.shape, data });
  }
  return evaluate(ctx, node, ins, outs);
}
