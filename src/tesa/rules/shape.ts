/**
 * Ops that move elements without computing on them: Reshape/Flatten/Squeeze/Unsqueeze keep the
 * element order; Transpose, Concat, Split, Slice, Gather, Expand, Where map indices.
 */
import { attrInt, attrInts, toNumbers } from '../../model/graph.js';
import { SparsityAttr } from '../attributes.js';
import { broadcastBackward, broadcastForward, broadcastMap, normAxis, reshaped, stridesOf, transposeMap } from './helpers.js';
import { registerRule, type Rule, type RuleResult } from './registry.js';

const sameOrder: Rule = (ctx) => ({
  outputs: [reshaped(ctx.inputs[0], ctx.outShapes[0])],
  inputs: [reshaped(ctx.outputs[0], ctx.inShapes[0])],
});
for (const op of ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']) registerRule(op, sameOrder);

registerRule('Transpose', (ctx) => {
  const inShape = ctx.inShapes[0];
  const outShape = ctx.outShapes[0];
  const x = ctx.inputs[0];
  const y = ctx.outputs[0];
  if (!inShape || !outShape || !x || !y) return {};
  const perm = attrInts(ctx.node, 'perm', inShape.map((_, i) => inShape.length - 1 - i));
  if (x.count() === 0 && y.count() === 0) return {};
  const map = transposeMap(inShape, perm); // out index → in index
  let fwd: SparsityAttr | undefined;
  let bwd: SparsityAttr | undefined;
  if (x.count() > 0) {
    fwd = new SparsityAttr(outShape);
    for (let o = 0; o < map.length; o++) if (x.isPruned(map[o])) fwd.prune(o);
  }
  if (y.count() > 0) {
    bwd = new SparsityAttr(inShape);
    y.forEachPruned((o) => {
      bwd!.prune(map[o]);
    });
  }
  return { outputs: [fwd], inputs: [bwd] };
});

/** Calls fn(outerIndex, offsetAlongAxis, inner) layout helpers for axis-wise copies. */
function axisLayout(shape: readonly number[], axis: number): { outer: number; dim: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d];
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  return { outer, dim: shape[axis], inner };
}

registerRule('Concat', (ctx) => {
  const outShape = ctx.outShapes[0];
  const y = ctx.outputs[0];
  if (!outShape || !y) return {};
  const axis = normAxis(attrInt(ctx.node, 'axis'), outShape.length);
  const out = axisLayout(outShape, axis);
  let fwd: SparsityAttr | undefined = new SparsityAttr(outShape);
  const inputs: (SparsityAttr | undefined)[] = [];
  let offset = 0;
  ctx.node.inputs.forEach((_, i) => {
    const s = ctx.inShapes[i];
    if (!s) {
      inputs.push(undefined);
      return;
    }
    const x = ctx.inputs[i];
    const d = s[axis];
    const inner = out.inner;
    const base = offset;
    const toOut = (idx: number): number => {
      const o = Math.floor(idx / (d * inner));
      const r = idx - o * d * inner;
      return o * out.dim * inner + base * inner + r;
    };
    x?.forEachPruned((idx) => {
      fwd!.prune(toOut(idx));
    });
    let dead: SparsityAttr | undefined;
    if (y.count() > 0) {
      const n = s.reduce((a, b) => a * b, 1);
      dead = new SparsityAttr(s);
      for (let idx = 0; idx < n; idx++) if (y.isPruned(toOut(idx))) dead.prune(idx);
      if (dead.count() === 0) dead = undefined;
    }
    inputs.push(dead);
    offset += d;
  });
  if (fwd.count() === 0) fwd = undefined;
  return { outputs: [fwd], inputs };
});

registerRule('Split', (ctx) => {
  const inShape = ctx.inShapes[0];
  const x = ctx.inputs[0];
  if (!inShape) return {};
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), inShape.length);
  const lay = axisLayout(inShape, axis);
  const dead = new SparsityAttr(inShape);
  const outputs: (SparsityAttr | undefined)[] = [];
  let offset = 0;
  ctx.node.outputs.forEach((_, k) => {
    const s = ctx.outShapes[k];
    const y = ctx.outputs[k];
    if (!s) {
      outputs.push(undefined);
      return;
    }
    const d = s[axis];
    const base = offset;
    const toIn = (idx: number): number => {
      const o = Math.floor(idx / (d * lay.inner));
      const r = idx - o * d * lay.inner;
      return o * lay.dim * lay.inner + base * lay.inner + r;
    };
    y?.forEachPruned((idx) => {
      dead.prune(toIn(idx));
    });
    let fwd: SparsityAttr | undefined;
    if (x && x.count() > 0) {
      fwd = new SparsityAttr(s);
      for (let idx = 0; idx < fwd.size; idx++) if (x.isPruned(toIn(idx))) fwd.prune(idx);
      if (fwd.count() === 0) fwd = undefined;
    }
    outputs.push(fwd);
    offset += d;
  });
  return { outputs, inputs: [dead.count() > 0 ? dead : undefined] };
});

/** Index maps of Slice nodes (constant inputs, so one per node). */
const sliceMaps = new WeakMap<object, Int32Array>();

/** Slice with constant starts/ends/axes/steps: each output element reads one input element. */
registerRule('Slice', (ctx) => {
  const inShape = ctx.inShapes[0];
  const outShape = ctx.outShapes[0];
  if (!inShape || !outShape) return {};
  const rank = inShape.length;
  const read = (i: number): number[] | undefined => {
    if (!ctx.node.inputs[i]) return undefined;
    const d = ctx.constant(i);
    return d ? toNumbers(d) : undefined;
  };
  const starts = read(1);
  const ends = read(2);
  if (!starts || !ends || (ctx.node.inputs[3] && !read(3)) || (ctx.node.inputs[4] && !read(4))) return {};
  const axes = (read(3) ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
  const steps = read(4) ?? starts.map(() => 1);
  const begin = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  axes.forEach((a, k) => {
    const dim = inShape[a];
    let s = starts[k];
    if (s < 0) s += dim;
    step[a] = steps[k];
    begin[a] = steps[k] > 0 ? Math.min(Math.max(s, 0), dim) : Math.min(Math.max(s, -1), dim - 1);
  });
  const inStrides = stridesOf(inShape);
  const outStrides = stridesOf(outShape);
  const n = outShape.reduce((a, b) => a * b, 1);
  const cached = sliceMaps.get(ctx.node);
  const map = cached ?? new Int32Array(n);
  if (!cached) sliceMaps.set(ctx.node, map);
  for (let o = 0; o < n && !cached; o++) {
    let rem = o;
    let idx = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(rem / outStrides[d]);
      rem -= c * outStrides[d];
      idx += (begin[d] + c * step[d]) * inStrides[d];
    }
    map[o] = idx;
  }
  const x = ctx.inputs[0];
  const y = ctx.outputs[0];
  let fwd: SparsityAttr | undefined;
  if (x && x.count() > 0) {
    fwd = new SparsityAttr(outShape);
    for (let o = 0; o < n; o++) if (x.isPruned(map[o])) fwd.prune(o);
  }
  // Elements the slice never reads are dead for it.
  const dead = new SparsityAttr(inShape);
  const live = new Uint8Array(dead.size);
  for (let o = 0; o < n; o++) if (!y || !y.isPruned(o)) live[map[o]] = 1;
  for (let i = 0; i < dead.size; i++) if (!live[i]) dead.prune(i);
  return { outputs: [fwd], inputs: [dead.count() > 0 ? dead : undefined] };
});

/**
 * Gather(data, indices, axis): with constant indices, an index map; with runtime indices (an
 * embedding lookup) only whole slices along `axis` carry over.
 */
registerRule('Gather', (ctx): RuleResult => {
  const dShape = ctx.inShapes[0];
  const outShape = ctx.outShapes[0];
  const x = ctx.inputs[0];
  const y = ctx.outputs[0];
  if (!dShape || !outShape || !y) return {};
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), dShape.length);
  const idxData = ctx.constant(1);
  const idxShape = ctx.inShapes[1] ?? ctx.graph.tensors.get(ctx.node.inputs[1])?.shape ?? [];
  const lay = axisLayout(dShape, axis);
  const nIdx = idxShape.reduce((a, b) => a * b, 1);
  if (idxData) {
    const ids = toNumbers(idxData).map((v) => (v < 0 ? v + lay.dim : v));
    const toIn = (o: number): number => {
      const inner = o % lay.inner;
      const rest = (o - inner) / lay.inner;
      const k = rest % nIdx;
      const outer = (rest - k) / nIdx;
      return (outer * lay.dim + ids[k]) * lay.inner + inner;
    };
    let fwd: SparsityAttr | undefined;
    if (x && x.count() > 0) {
      fwd = new SparsityAttr(outShape);
      for (let o = 0; o < fwd.size; o++) if (x.isPruned(toIn(o))) fwd.prune(o);
    }
    const dead = new SparsityAttr(dShape);
    const live = new Uint8Array(dead.size);
    for (let o = 0; o < y.size; o++) if (!y.isPruned(o)) live[toIn(o)] = 1;
    for (let i = 0; i < dead.size; i++) if (!live[i]) dead.prune(i);
    return { outputs: [fwd], inputs: [dead.count() > 0 ? dead : undefined] };
  }
  // Runtime indices: an element (outer, *, inner) of data is zero/dead for every lookup alike.
  const toOutAll = (outer: number, inner: number, k: number): number => (outer * nIdx + k) * lay.inner + inner;
  let fwd: SparsityAttr | undefined;
  if (x && x.count() > 0) {
    const allAlongAxis = new Uint8Array(lay.outer * lay.inner);
    for (let o = 0; o < lay.outer; o++)
      for (let j = 0; j < lay.inner; j++) {
        let all = true;
        for (let k = 0; k < lay.dim && all; k++) if (!x.isPruned((o * lay.dim + k) * lay.inner + j)) all = false;
        allAlongAxis[o * lay.inner + j] = all ? 1 : 0;
      }
    fwd = new SparsityAttr(outShape);
    for (let o = 0; o < lay.outer; o++) for (let j = 0; j < lay.inner; j++) if (allAlongAxis[o * lay.inner + j]) for (let k = 0; k < nIdx; k++) fwd.prune(toOutAll(o, j, k));
    if (fwd.count() === 0) fwd = undefined;
  }
  let dead: SparsityAttr | undefined;
  if (y.count() > 0) {
    dead = new SparsityAttr(dShape);
    for (let o = 0; o < lay.outer; o++)
      for (let j = 0; j < lay.inner; j++) {
        let all = true;
        for (let k = 0; k < nIdx && all; k++) if (!y.isPruned(toOutAll(o, j, k))) all = false;
        if (all) for (let k = 0; k < lay.dim; k++) dead.prune((o * lay.dim + k) * lay.inner + j);
      }
    if (dead.count() === 0) dead = undefined;
  }
  return { outputs: [fwd], inputs: [dead] };
});

registerRule('Expand', (ctx) => {
  const outShape = ctx.outShapes[0];
  const x = ctx.inputs[0];
  const y = ctx.outputs[0];
  const inShape = ctx.inShapes[0];
  if (!outShape || !inShape || !y) return {};
  const fwd = x ? broadcastForward(outShape, [{ attr: x, shape: inShape }], true) : undefined;
  return { outputs: [fwd], inputs: [broadcastBackward(y, inShape)] };
});

/** Where(cond, X, Y): zero where the selected branch is zero. */
registerRule('Where', (ctx) => {
  const outShape = ctx.outShapes[0];
  const out = ctx.outputs[0];
  const [cShape, xShape, yShape] = ctx.inShapes;
  if (!outShape || !out || !cShape || !xShape || !yShape) return {};
  const cond = ctx.constant(0);
  const x = ctx.inputs[1];
  const y = ctx.inputs[2];
  const cMap = broadcastMap(outShape, cShape);
  const xMap = broadcastMap(outShape, xShape);
  const yMap = broadcastMap(outShape, yShape);
  const fwd = new SparsityAttr(outShape);
  const n = fwd.size;
  const xLive = new Uint8Array(x ? x.size : 0);
  const yLive = new Uint8Array(y ? y.size : 0);
  for (let o = 0; o < n; o++) {
    const c = cond ? Number(cond[cMap[o]]) : -1;
    const xz = x?.isPruned(xMap[o]) ?? false;
    const yz = y?.isPruned(yMap[o]) ?? false;
    const zero = c === -1 ? xz && yz : c !== 0 ? xz : yz;
    if (zero) fwd.prune(o);
    const live = !out.isPruned(o) && !zero;
    if (live && c !== 0) xLive[xMap[o]] = 1;
    if (live && (c === 0 || c === -1)) yLive[yMap[o]] = 1;
  }
  const deadOf = (shape: readonly number[], live: Uint8Array): SparsityAttr | undefined => {
    if (live.length === 0) return undefined;
    const a = new SparsityAttr(shape);
    for (let i = 0; i < live.length; i++) if (!live[i]) a.prune(i);
    return a.count() > 0 ? a : undefined;
  };
  return { outputs: [fwd.count() > 0 ? fwd : undefined], inputs: [undefined, deadOf(xShape, xLive), deadOf(yShape, yLive)] };
});
