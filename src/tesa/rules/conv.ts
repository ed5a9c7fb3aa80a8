/**
 * Conv: weight [O, C/g, kh, kw]. Output channel o is zero when every input channel it reads is
 * zero or its weight slice is pruned, and its bias is zero. Backward: a pruned output channel
 * kills its weight slice and bias; an input channel is dead when every output channel reading it
 * has that weight slice pruned or is itself pruned; a zero input channel kills the weight slices
 * that read it. Depthwise (g = C) is channel ↔ channel.
 */
import { attrInt } from '../../model/graph.js';
import { SparsityAttr } from '../attributes.js';
import { attrFromAxisFlags, axisAllPruned } from './helpers.js';
import { registerRule, type RuleResult } from './registry.js';

/** Per (o, c) weight slice: 1 when all its kernel taps are pruned. */
function sliceAllPruned(w: SparsityAttr, O: number, Cg: number): Uint8Array {
  const flags = new Uint8Array(O * Cg);
  if (w.count() === 0) return flags;
  const k = w.size / (O * Cg);
  for (let j = 0; j < flags.length; j++) flags[j] = w.rangeAllPruned(j * k, k) ? 1 : 0;
  return flags;
}

function pruneSlice(w: SparsityAttr, j: number, k: number): void {
  w.pruneRange(j * k, k);
}

registerRule('Conv', (ctx): RuleResult => {
  const [xShape, wShape, bShape] = ctx.inShapes;
  const yShape = ctx.outShapes[0];
  const y = ctx.outputs[0];
  if (!xShape || !wShape || !yShape || !y || xShape.length < 3) return {};
  const x = ctx.inputs[0] ?? new SparsityAttr(xShape);
  const w = ctx.inputs[1] ?? new SparsityAttr(wShape);
  const b = ctx.node.inputs[2] ? ctx.inputs[2] : undefined;
  const hasBias = !!ctx.node.inputs[2];
  const O = wShape[0];
  const Cg = wShape[1];
  const C = xShape[1];
  const g = attrInt(ctx.node, 'group', 1);
  const Og = O / g;
  const k = w.size / (O * Cg);
  const xZero = axisAllPruned(x, 1);
  const yDead = axisAllPruned(y, 1);
  const wSlice = sliceAllPruned(w, O, Cg);

  // Forward.
  const yZero = new Uint8Array(O);
  let anyZero = false;
  for (let o = 0; o < O; o++) {
    if (hasBias && !(b && b.isPruned(o))) continue;
    const grp = Math.floor(o / Og);
    let zero = true;
    for (let c = 0; c < Cg && zero; c++) if (!wSlice[o * Cg + c] && !xZero[grp * Cg + c]) zero = false;
    if (zero) {
      yZero[o] = 1;
      anyZero = true;
    }
  }
  const fwd = anyZero ? attrFromAxisFlags(yShape, 1, yZero) : undefined;

  // Backward.
  let deadW: SparsityAttr | undefined;
  const dw = (): SparsityAttr => (deadW ??= new SparsityAttr(wShape));
  for (let o = 0; o < O; o++) {
    const grp = Math.floor(o / Og);
    for (let c = 0; c < Cg; c++) {
      const j = o * Cg + c;
      if (wSlice[j]) continue;
      if (yDead[o] || xZero[grp * Cg + c]) pruneSlice(dw(), j, k);
    }
  }
  const deadXFlags = new Uint8Array(C);
  for (let ci = 0; ci < C; ci++) {
    const grp = Math.floor(ci / Cg);
    const c = ci - grp * Cg;
    let dead = true;
    for (let o = grp * Og; o < (grp + 1) * Og && dead; o++) if (!yDead[o] && !wSlice[o * Cg + c]) dead = false;
    if (dead) deadXFlags[ci] = 1;
  }
  const deadX = attrFromAxisFlags(xShape, 1, deadXFlags);
  let deadB: SparsityAttr | undefined;
  if (hasBias && bShape) {
    for (let o = 0; o < O; o++) if (yDead[o]) (deadB ??= new SparsityAttr(bShape)).prune(o);
  }
  return { outputs: [fwd], inputs: [deadX, deadW, deadB] };
});
