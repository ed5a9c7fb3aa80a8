/**
 * Exactness where a pruned channel is a non-zero constant. A producer (MatMul/Gemm/Conv) whose
 * weight slice for output channel c is pruned emits a constant on channel c (0, or its bias);
 * per-channel ops after it (bias Add, BatchNormalization, Relu/Clip/Sigmoid, the GELU pattern…)
 * keep it a constant v. A linear reader (MatMul/Gemm, or Conv without padding) of that channel
 * then adds v·W[c, :] to its bias, and its input-channel-c weights become pruned: the channel is
 * gone and the model computes the same thing. `findFolds` finds those spots and marks the
 * weights; `applyAttributes` (apply.ts) moves the constants into the biases.
 */
import { attrFloat, attrInt, attrInts, attrString, producers, toNumbers, topoSort, type Graph, type Node } from '../model/graph.js';
import { mapByStrides } from './groups.js';
import type { SparsityAttr } from './attributes.js';
import { axisCounts, isFloatData } from './rules/helpers.js';

export interface Fold {
  /** The linear node whose input channels became constants. */
  node: string;
  /** Its weight (an initializer). */
  weight: string;
  /** Input channels (of the reader's data input) that are constant. */
  channels: number[];
  /** The constant of each channel. */
  values: number[];
  /** What the reader's output gains per output feature/channel, summed over the channels: goes into its bias. */
  contribution: Float64Array;
}

interface ChainValue {
  /** The channel axis; -1 when the channel spans several axes (`axes`, after a head split). */
  axis: number;
  /** Major-to-minor axes whose combined index is the channel, when more than one. */
  axes?: number[];
  values: Float64Array;
  valid: Uint8Array;
}

/** Pruned count per combined index over `axes` (major to minor). */
function compositeCounts(a: SparsityAttr, axes: readonly number[]): Int32Array {
  const shape = a.shape;
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  const n = axes.reduce((p, x) => p * shape[x], 1);
  const counts = new Int32Array(n);
  a.forEachPruned((i) => {
    let c = 0;
    for (const x of axes) c = c * shape[x] + (Math.floor(i / strides[x]) % shape[x]);
    counts[c]++;
  });
  return counts;
}

function chainValue(axes: number[], values: Float64Array, valid: Uint8Array): ChainValue {
  return axes.length === 1 ? { axis: axes[0], values, valid } : { axis: -1, axes, values, valid };
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26: absolute error < 1.5e-7, well inside float32 comparison tolerance.
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Per-channel value of a constant operand that is uniform along every axis but `axis`. */
function perChannel(graph: Graph, name: string, outShape: readonly number[], axis: number, C: number): Float64Array | undefined {
  const t = graph.tensors.get(name);
  if (!t?.data || !isFloatData(t.data)) return undefined;
  const d = t.data;
  const out = new Float64Array(C);
  if (d.length === 1) return out.fill(d[0]);
  const off = outShape.length - t.shape.length;
  if (off < 0) return undefined;
  for (let k = 0; k < t.shape.length; k++) {
    const ax = k + off;
    if (ax !== axis && t.shape[k] !== 1) return undefined;
  }
  const dimAt = axis - off >= 0 ? t.shape[axis - off] : 1;
  if (dimAt === 1) return out.fill(d[0]);
  if (dimAt !== C) return undefined;
  for (let c = 0; c < C; c++) out[c] = d[c];
  return out;
}

const UNARY: Record<string, (v: number, n: Node) => number> = {
  Relu: (v) => Math.max(0, v),
  Sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  Tanh: (v) => Math.tanh(v),
  Erf: (v) => erf(v),
  Sqrt: (v) => Math.sqrt(v),
  Neg: (v) => -v,
  Abs: (v) => Math.abs(v),
  Exp: (v) => Math.exp(v),
  Identity: (v) => v,
  Dropout: (v) => v,
  Softplus: (v) => Math.log1p(Math.exp(v)),
  LeakyRelu: (v, n) => (v >= 0 ? v : attrFloat(n, 'alpha', 0.01) * v),
  HardSigmoid: (v, n) => Math.max(0, Math.min(1, attrFloat(n, 'alpha', 0.2) * v + attrFloat(n, 'beta', 0.5))),
  HardSwish: (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)),
  Gelu: (v, n) => (attrString(n, 'approximate', 'none') === 'tanh' ? 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))) : 0.5 * v * (1 + erf(v / Math.SQRT2))),
};

const BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
};

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Number of outputs (features or channels) of a linear reader. */
function readerOutputs(graph: Graph, node: Node): number {
  const s = graph.tensors.get(node.inputs[1])!.shape;
  if (node.opType === 'MatMul') return s[1];
  if (node.opType === 'Gemm') return attrInt(node, 'transB', 0) !== 0 ? s[0] : s[1];
  return s[0];
}

/** Adds the kept part of weight slice (in-channel c) of a linear reader, times v, to `out`. */
function addContribution(graph: Graph, node: Node, c: number, v: number, w: SparsityAttr, out: Float64Array): boolean {
  const wt = graph.tensors.get(node.inputs[1])!;
  const d = wt.data;
  if (!isFloatData(d)) return false;
  if (v === 0) return true;
  if (node.opType === 'MatMul') {
    const [, N] = wt.shape;
    const bits = w.bitset();
    const base = c * N;
    for (let n = 0; n < N; n++) {
      const i = base + n;
      if (bits === null || ((bits[i >>> 5] >>> (i & 31)) & 1) === 0) out[n] += v * d[i];
    }
    return true;
  }
  if (node.opType === 'Gemm') {
    const tB = attrInt(node, 'transB', 0) !== 0;
    const alpha = attrFloat(node, 'alpha', 1);
    const [r, k] = wt.shape;
    const N = tB ? r : k;
    for (let n = 0; n < N; n++) {
      const i = tB ? n * k + c : c * k + n;
      if (!w.isPruned(i)) out[n] += alpha * v * d[i];
    }
    return true;
  }
  // Conv, group 1, no padding: every output position sees the whole kernel.
  const [O, Cin] = wt.shape;
  const k = wt.shape.slice(2).reduce((a, b) => a * b, 1);
  for (let o = 0; o < O; o++) {
    let s = 0;
    for (let t = 0; t < k; t++) {
      const i = (o * Cin + c) * k + t;
      if (!w.isPruned(i)) s += d[i];
    }
    out[o] += v * s;
  }
  return true;
}

/** Is `node` a linear reader whose data input (slot 0) carries channels along `axis` in its weight's input axis? */
function linearReader(graph: Graph, node: Node, axis: number, rank: number): boolean {
  const w = node.inputs[1];
  const wt = w ? graph.tensors.get(w) : undefined;
  if (!wt?.data || !isFloatData(wt.data)) return false;
  if (node.opType === 'MatMul') return wt.shape.length === 2 && axis === rank - 1 && rank >= 2;
  if (node.opType === 'Gemm') return attrInt(node, 'transA', 0) === 0 && axis === 1 && rank === 2;
  if (node.opType === 'Conv') {
    if (attrInt(node, 'group', 1) !== 1 || axis !== 1) return false;
    const autoPad = node.attrs.auto_pad ? attrString(node, 'auto_pad') : 'NOTSET';
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return false;
    const pads = node.attrs.pads ? attrInts(node, 'pads') : [];
    return pads.every((p) => p === 0);
  }
  return false;
}

/**
 * Finds new folds given the current attributes and marks the readers' weight slices pruned.
 * One pass in graph order carries every constant channel at once, so channels that several
 * producers feed (a residual Add of two pruned channels) stay constants too.
 * `done` holds `node#channel` keys already folded (updated).
 */
export function findFolds(graph: Graph, attrs: Map<string, SparsityAttr>, done: Set<string>): Fold[] {
  const order = topoSort(graph);
  const folds: Fold[] = [];
  const chain = new Map<string, ChainValue>();
  const made = producers(graph);
  for (const n of order) {
    // A linear reader of a constant channel: fold it.
    const x = n.inputs[0] ? chain.get(n.inputs[0]) : undefined;
    if (x && !n.inputs.slice(1).some((i) => chain.has(i))) {
      const fold = foldInto(graph, n, x, attrs, done);
      if (fold) folds.push(fold);
    }
    // A producer whose weight slices are pruned emits constants; other ops may carry them.
    const isProducer = n.opType === 'MatMul' || n.opType === 'Gemm' || n.opType === 'Conv';
    const out = (isProducer ? startChannels(graph, n, attrs) : undefined) ?? (n.inputs.some((i) => chain.has(i)) ? evaluate(graph, n, chain, attrs, made) : undefined);
    if (out) chain.set(n.outputs[0], out);
  }
  return folds;
}

function foldInto(graph: Graph, n: Node, x: ChainValue, attrs: Map<string, SparsityAttr>, done: Set<string>): Fold | undefined {
  const xShape = graph.tensors.get(n.inputs[0])!.shape;
  if (x.axes !== undefined || !linearReader(graph, n, x.axis, xShape.length)) return undefined;
  const w = attrs.get(n.inputs[1]);
  if (!w) return undefined;
  const wt = graph.tensors.get(n.inputs[1])!;
  const inAxis = n.opType === 'MatMul' ? 0 : n.opType === 'Gemm' ? (attrInt(n, 'transB', 0) !== 0 ? 1 : 0) : 1;
  const wAll = w.allPrunedAlong(inAxis);
  const flags = new Uint8Array(wt.shape[inAxis]);
  const fold: Fold = { node: n.name, weight: n.inputs[1], channels: [], values: [], contribution: new Float64Array(readerOutputs(graph, n)) };
  for (let c = 0; c < x.values.length; c++) {
    if (!x.valid[c] || wAll[c]) continue;
    const key = `${n.name}#${c}`;
    if (done.has(key)) continue;
    if (!addContribution(graph, n, c, x.values[c], w, fold.contribution)) continue;
    done.add(key);
    fold.channels.push(c);
    fold.values.push(x.values[c]);
    flags[c] = 1;
  }
  if (fold.channels.length === 0) return undefined;
  w.pruneAlong(inAxis, flags);
  return fold;
}

/** Channels of p's output that are constant because their weight slice is pruned. */
function startChannels(graph: Graph, p: Node, attrs: Map<string, SparsityAttr>): ChainValue | undefined {
  const wName = p.inputs[1];
  const wt = wName ? graph.tensors.get(wName) : undefined;
  const w = wName ? attrs.get(wName) : undefined;
  const yShape = graph.tensors.get(p.outputs[0])?.shape;
  if (!wt?.data || !w || !yShape || w.count() === 0) return undefined;
  let outAxis: number;
  let axis: number;
  if (p.opType === 'MatMul') {
    if (wt.shape.length !== 2 || graph.tensors.get(p.inputs[0])?.data) return undefined;
    outAxis = 1;
    axis = yShape.length - 1;
  } else if (p.opType === 'Gemm') {
    if (attrInt(p, 'transA', 0) !== 0) return undefined;
    outAxis = attrInt(p, 'transB', 0) !== 0 ? 0 : 1;
    axis = 1;
  } else {
    outAxis = 0;
    axis = 1;
  }
  const C = wt.shape[outAxis];
  const valid = w.allPrunedAlong(outAxis).slice();
  if (!valid.some((v) => v)) return undefined;
  const values = new Float64Array(C);
  const bias = p.inputs[2];
  if (bias) {
    // Conv's B is [O] along axis 1, not numpy-broadcast; Gemm's C broadcasts.
    const bData = graph.tensors.get(bias)?.data;
    const per = p.opType === 'Conv' ? (isFloatData(bData) && bData.length === C ? Float64Array.from(bData) : undefined) : perChannel(graph, bias, yShape, axis, C);
    if (!per) return undefined;
    const beta = p.opType === 'Gemm' ? attrFloat(p, 'beta', 1) : 1;
    for (let c = 0; c < C; c++) values[c] = beta * per[c];
    // A channel already pruned on the output (dead) is not the bias any more in the forced model.
    const y = attrs.get(p.outputs[0]);
    if (y && y.count() > 0) {
      const counts = axisCounts(y, axis);
      for (let c = 0; c < C; c++) if (counts[c] > 0 && values[c] !== 0) valid[c] = 0;
    }
  }
  return { axis, values, valid };
}

/** The per-channel constant after node n, when n maps constants to constants. */
function evaluate(graph: Graph, n: Node, chain: Map<string, ChainValue>, attrs: Map<string, SparsityAttr>, made: Map<string, Node>): ChainValue | undefined {
  const outName = n.outputs[0];
  const outShape = graph.tensors.get(outName)?.shape;
  if (!outShape || n.outputs.filter((o) => o).length !== 1 && n.opType !== 'Dropout') return undefined;
  const x0 = chain.get(n.inputs[0]);
  const first = x0 ?? (n.inputs[1] ? chain.get(n.inputs[1]) : undefined);
  if (!first) return undefined;
  const C = first.values.length;
  const axis = first.axis;
  const resultOn = (axes: number[], values: Float64Array, valid: Uint8Array): ChainValue | undefined => {
    // Channels that already hold pruned elements are no longer plain constants.
    const a = attrs.get(outName);
    if (!a) return undefined;
    if (a.count() > 0) {
      const counts = axes.length === 1 ? axisCounts(a, axes[0]) : compositeCounts(a, axes);
      for (let c = 0; c < C; c++) if (counts[c] > 0) valid[c] = 0;
    }
    return valid.some((v) => v) ? chainValue(axes, values, valid) : undefined;
  };
  const result = (values: Float64Array, valid: Uint8Array): ChainValue | undefined => resultOn([axis], values, valid);
  const firstAxes = first.axes ?? [first.axis];
  // Head split and merge: Reshape keeps the element order, Transpose moves the axes.
  if ((n.opType === 'Reshape' || n.opType === 'Transpose') && x0) {
    const inShape = graph.tensors.get(n.inputs[0])!.shape;
    let axes: number[] | null;
    if (n.opType === 'Reshape') axes = mapByStrides(inShape, firstAxes, outShape);
    else {
      const perm = attrInts(n, 'perm', inShape.map((_, i) => inShape.length - 1 - i));
      const moved = firstAxes.map((x) => perm.indexOf(x));
      // Only when the major-to-minor order of the channel axes is kept (values stay in order).
      axes = moved.every((x, k) => k === 0 || x > moved[k - 1]) ? moved : null;
    }
    if (!axes || axes.reduce((p, x) => p * outShape[x], 1) !== C) return undefined;
    // Pure data movement: at a fixpoint its rule maps pruned elements one-to-one both ways, so
    // the output's channels are as clean as the input's and need no recount.
    return chainValue(axes, x0.values.slice(), x0.valid.slice());
  }
  // P·V with P a softmax over its last axis: rows of P sum to one, so a constant column of V stays that constant.
  if (n.opType === 'MatMul' && !x0 && chain.get(n.inputs[1])) {
    const v = chain.get(n.inputs[1])!;
    const vAxes = v.axes ?? [v.axis];
    const vShape = graph.tensors.get(n.inputs[1])!.shape;
    const p = made.get(n.inputs[0]);
    const pShape = graph.tensors.get(n.inputs[0])?.shape;
    if (!p || p.opType !== 'Softmax' || !pShape || graph.opsetVersion < 13) return undefined;
    const sAxis = attrInt(p, 'axis', -1);
    if ((sAxis < 0 ? sAxis + pShape.length : sAxis) !== pShape.length - 1) return undefined;
    const r = vShape.length;
    if (r !== outShape.length || r !== pShape.length || vAxes.includes(r - 2)) return undefined;
    // Batch axes must not broadcast (a head of V meets the same head of P).
    for (const x of vAxes) if (x < r - 2 && vShape[x] !== outShape[x]) return undefined;
    return resultOn(vAxes.slice(), v.values.slice(), v.valid.slice());
  }
  if (first.axes !== undefined) return undefined;
  const unary = UNARY[n.opType];
  if (unary && x0 && sameShape(graph.tensors.get(n.inputs[0])!.shape, outShape)) {
    return result(x0.values.map((v) => unary(v, n)), x0.valid.slice());
  }
  if (n.opType === 'Cast' && x0) return result(x0.values.slice(), x0.valid.slice());
  if (n.opType === 'Clip' && x0) {
    let lo = -Infinity;
    let hi = Infinity;
    if (n.attrs.min) lo = attrFloat(n, 'min');
    if (n.attrs.max) hi = attrFloat(n, 'max');
    for (const [slot, set] of [[1, (v: number) => (lo = v)], [2, (v: number) => (hi = v)]] as const) {
      const name = n.inputs[slot];
      if (!name) continue;
      const d = graph.tensors.get(name)?.data;
      if (!d) return undefined;
      set(toNumbers(d)[0]);
    }
    return result(x0.values.map((v) => Math.min(hi, Math.max(lo, v))), x0.valid.slice());
  }
  const binary = BINARY[n.opType];
  if (binary && n.inputs.length === 2) {
    const operand = (slot: number): { values: Float64Array; valid: Uint8Array } | undefined => {
      const name = n.inputs[slot];
      const ch = chain.get(name);
      if (ch) return sameShape(graph.tensors.get(name)!.shape, outShape) && ch.axis === axis ? ch : undefined;
      const per = perChannel(graph, name, outShape, axis, C);
      return per ? { values: per, valid: new Uint8Array(C).fill(1) } : undefined;
    };
    const a = operand(0);
    const b = operand(1);
    if (!a || !b) return undefined;
    const values = new Float64Array(C);
    const valid = new Uint8Array(C);
    for (let c = 0; c < C; c++) {
      values[c] = binary(a.values[c], b.values[c]);
      valid[c] = a.valid[c] & b.valid[c] & (Number.isFinite(values[c]) ? 1 : 0);
    }
    return result(values, valid);
  }
  if (n.opType === 'BatchNormalization' && x0 && axis === 1) {
    const p = [1, 2, 3, 4].map((i) => graph.tensors.get(n.inputs[i])?.data);
    if (!p.every((d) => isFloatData(d))) return undefined;
    const [scale, bias, mean, variance] = p as Float32Array[];
    const eps = attrFloat(n, 'epsilon', 1e-5);
    const values = x0.values.map((v, c) => (scale[c] * (v - mean[c])) / Math.sqrt(variance[c] + eps) + bias[c]);
    return result(values, x0.valid.slice());
  }
  if ((n.opType === 'Flatten' || n.opType === 'Squeeze' || n.opType === 'Unsqueeze') && x0) {
    // Only where the channel axis keeps its place and nothing follows it ([N,C,1,1] → [N,C]).
    const inShape = graph.tensors.get(n.inputs[0])!.shape;
    const after = (sh: readonly number[]): number => sh.slice(axis + 1).reduce((a, b) => a * b, 1);
    const before = (sh: readonly number[]): number => sh.slice(0, axis).reduce((a, b) => a * b, 1);
    if (outShape[axis] === C && after(inShape) === 1 && after(outShape) === 1 && before(inShape) === before(outShape)) {
      return result(x0.values.slice(), x0.valid.slice());
    }
    return undefined;
  }
  if ((n.opType === 'GlobalAveragePool' || n.opType === 'GlobalMaxPool' || n.opType === 'MaxPool') && x0 && axis === 1) {
    return result(x0.values.slice(), x0.valid.slice());
  }
  return undefined;
}
