/**
 * Normalizations and reductions: Softmax and LayerNormalization are barriers forward (a zero
 * input does not give a zero output) but a whole dead row is dead input; BatchNormalization is
 * per channel (zero passes only where the channel's shift is zero); pooling keeps zero channels
 * zero and dead channels dead.
 */
import { attrFloat, attrInt, attrInts } from '../../model/graph.js';
import { SparsityAttr } from '../attributes.js';
import { attrFromAxisFlags, axisAllPruned, isFloatData, normAxis, reshaped } from './helpers.js';
import { registerRule, type RuleContext, type RuleResult } from './registry.js';

/** Rows of the trailing dims from `axis` on: pruned in y ⇒ dead in x. */
function rowDead(y: SparsityAttr | undefined, xShape: readonly number[] | undefined, axis: number): SparsityAttr | undefined {
  if (!y || !xShape || y.count() === 0) return undefined;
  let inner = 1;
  for (let d = axis; d < xShape.length; d++) inner *= xShape[d];
  const x = new SparsityAttr(xShape);
  for (let r = 0; r < y.size / inner; r++) {
    let all = true;
    for (let j = 0; j < inner && all; j++) if (!y.isPruned(r * inner + j)) all = false;
    if (all) for (let j = 0; j < inner; j++) x.prune(r * inner + j);
  }
  return x.count() > 0 ? x : undefined;
}

function softmaxRule(ctx: RuleContext): RuleResult {
  const s = ctx.inShapes[0];
  if (!s) return {};
  const axis = normAxis(attrInt(ctx.node, 'axis', ctx.graph.opsetVersion >= 13 ? -1 : 1), s.length);
  if (ctx.graph.opsetVersion >= 13 && axis !== s.length - 1) {
    // Softmax over one inner axis: only a slice dead along that axis and everything after is safe.
    return {};
  }
  return { inputs: [rowDead(ctx.outputs[0], s, axis)] };
}
registerRule('Softmax', softmaxRule);
registerRule('LogSoftmax', softmaxRule);

registerRule('LayerNormalization', (ctx): RuleResult => {
  const s = ctx.inShapes[0];
  const y = ctx.outputs[0];
  if (!s || !y) return {};
  const axis = normAxis(attrInt(ctx.node, 'axis', -1), s.length);
  const x = ctx.inputs[0];
  let inner = 1;
  for (let d = axis; d < s.length; d++) inner *= s[d];
  // A whole zero row normalizes to zero, so the output there is β (zero where β is zero).
  let fwd: SparsityAttr | undefined;
  const beta = ctx.node.inputs[2] ? ctx.inputs[2] : undefined;
  const betaZero = (j: number): boolean => !ctx.node.inputs[2] || (beta?.isPruned(j) ?? false);
  if (x && x.count() >= inner) {
    for (let r = 0; r < x.size / inner; r++) {
      let all = true;
      for (let j = 0; j < inner && all; j++) if (!x.isPruned(r * inner + j)) all = false;
      if (!all) continue;
      for (let j = 0; j < inner; j++) if (betaZero(j)) (fwd ??= new SparsityAttr(y.shape)).prune(r * inner + j);
    }
  }
  // Scale and bias elements whose output column is pruned everywhere are dead.
  const paramDead = (i: number): SparsityAttr | undefined => {
    const ps = ctx.inShapes[i];
    if (!ctx.node.inputs[i] || !ps || y.count() === 0) return undefined;
    const n = ps.reduce((a, b) => a * b, 1);
    if (n !== inner) return undefined;
    const a = new SparsityAttr(ps);
    for (let j = 0; j < inner; j++) {
      let all = true;
      for (let r = 0; r < y.size / inner && all; r++) if (!y.isPruned(r * inner + j)) all = false;
      if (all) a.prune(j);
    }
    return a.count() > 0 ? a : undefined;
  };
  return { outputs: [fwd], inputs: [rowDead(y, s, axis), paramDead(1), paramDead(2)] };
});

/** y = scale·(x − mean)/√(var + ε) + B, per channel (axis 1). */
registerRule('BatchNormalization', (ctx): RuleResult => {
  const s = ctx.inShapes[0];
  const y = ctx.outputs[0];
  const x = ctx.inputs[0];
  if (!s || !y) return {};
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => ctx.constant(i));
  const C = s[1] ?? 1;
  const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
  const known = isFloatData(scale) && isFloatData(bias) && isFloatData(mean) && isFloatData(variance);
  const shift = new Float64Array(C);
  const gain = new Float64Array(C);
  if (known) {
    for (let c = 0; c < C; c++) {
      gain[c] = scale[c] / Math.sqrt(variance[c] + eps);
      shift[c] = bias[c] - gain[c] * mean[c];
    }
  }
  let fwd: SparsityAttr | undefined;
  if (known) {
    const xZero = x ? axisAllPruned(x, 1) : new Uint8Array(C);
    const flags = new Uint8Array(C);
    for (let c = 0; c < C; c++) flags[c] = shift[c] === 0 && (xZero[c] || gain[c] === 0) ? 1 : 0;
    fwd = attrFromAxisFlags(y.shape, 1, flags);
    // Element-wise: a zero element stays zero where the channel shift is zero.
    if (x && x.count() > 0) {
      let inner = 1;
      for (let d = 2; d < s.length; d++) inner *= s[d];
      x.forEachPruned((i) => {
        if (shift[((i / inner) | 0) % C] === 0) (fwd ??= new SparsityAttr(y.shape)).prune(i);
      });
    }
  }
  const deadX = reshaped(y, s);
  // A channel whose gain is zero ignores its input.
  let deadX2 = deadX;
  if (known && gain.some((v) => v === 0)) {
    const flags = new Uint8Array(C);
    for (let c = 0; c < C; c++) flags[c] = gain[c] === 0 ? 1 : 0;
    const extra = attrFromAxisFlags(s, 1, flags);
    if (extra) {
      deadX2 = deadX ?? new SparsityAttr(s);
      deadX2.unionPruned(extra);
    }
  }
  const yDead = axisAllPruned(y, 1);
  const params = [1, 2, 3, 4].map((i) => {
    const ps = ctx.inShapes[i];
    return ps ? attrFromAxisFlags(ps, 0, yDead) : undefined;
  });
  return { outputs: [fwd], inputs: [deadX2, ...params] };
});

/** Pooling per channel: a zero channel stays zero, a dead channel's input is dead. */
function poolRule(ctx: RuleContext): RuleResult {
  const s = ctx.inShapes[0];
  const os = ctx.outShapes[0];
  const x = ctx.inputs[0];
  const y = ctx.outputs[0];
  if (!s || !os || !y || s.length < 3) return {};
  const fwd = x ? attrFromAxisFlags(os, 1, axisAllPruned(x, 1)) : undefined;
  const bwd = attrFromAxisFlags(s, 1, axisAllPruned(y, 1));
  return { outputs: [fwd], inputs: [bwd] };
}
for (const op of ['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool']) registerRule(op, poolRule);

/** ReduceMean/ReduceSum/ReduceMax over constant axes: zero when every reduced element is zero. */
function reduceRule(ctx: RuleContext): RuleResult {
  const s = ctx.inShapes[0];
  const os = ctx.outShapes[0];
  const x = ctx.inputs[0];
  const y = ctx.outputs[0];
  if (!s || !os || !y) return {};
  let axes: number[] | undefined;
  if (ctx.node.attrs.axes) axes = attrInts(ctx.node, 'axes');
  else if (ctx.node.inputs[1]) {
    const d = ctx.constant(1);
    if (!d) return {};
    axes = Array.from(d as ArrayLike<number | bigint>, (v) => Number(v));
  } else axes = s.map((_, i) => i);
  const set = new Set(axes.map((a) => normAxis(a, s.length)));
  // Output index of every input element (keepdims or not, the order of kept dims is the same).
  const keptDims = s.map((d, i) => (set.has(i) ? 1 : d));
  const n = s.reduce((a, b) => a * b, 1);
  const toOut = new Int32Array(n);
  const idx = new Array<number>(s.length).fill(0);
  const kStr = new Array<number>(s.length);
  let acc = 1;
  for (let d = s.length - 1; d >= 0; d--) {
    kStr[d] = acc;
    acc *= keptDims[d];
  }
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let d = 0; d < s.length; d++) if (!set.has(d)) o += idx[d] * kStr[d];
    toOut[i] = o;
    for (let d = s.length - 1; d >= 0; d--) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
  let fwd: SparsityAttr | undefined;
  if (x && x.count() > 0) {
    const live = new Uint8Array(y.size);
    for (let i = 0; i < n; i++) if (!x.isPruned(i)) live[toOut[i]] = 1;
    fwd = new SparsityAttr(os);
    for (let o = 0; o < y.size; o++) if (!live[o]) fwd.prune(o);
    if (fwd.count() === 0) fwd = undefined;
  }
  let dead: SparsityAttr | undefined;
  if (y.count() > 0) {
    dead = new SparsityAttr(s);
    for (let i = 0; i < n; i++) if (y.isPruned(toOut[i])) dead.prune(i);
    if (dead.count() === 0) dead = undefined;
  }
  return { outputs: [fwd], inputs: [dead] };
}
for (const op of ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceL1', 'ReduceL2']) registerRule(op, reduceRule);
