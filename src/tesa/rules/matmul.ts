/**
 * MatMul and Gemm (Figure 4): a pruned row of A zeroes that row of Y, a pruned column of B zeroes
 * that column of Y; backward, a pruned row/column of Y kills the matching row of A / column of
 * B, and a pruned row k of B kills column k of A (and the other way round). Batched MatMul
 * (attention) works per batch slice, with numpy broadcasting of the batch dims.
 */
import { attrInt } from '../../model/graph.js';
import { SparsityAttr } from '../attributes.js';
import { broadcastBackward, broadcastMap } from './helpers.js';
import { registerRule, type RuleContext, type RuleResult } from './registry.js';

/** A 2-D (per slice) view of an operand, transposed when `t`. */
interface View {
  attr: SparsityAttr;
  t: boolean;
}

function rowAll(v: View, r: number, s: number): boolean {
  return v.t ? v.attr.colAllPruned(r, s) : v.attr.rowAllPruned(r, s);
}

function colAll(v: View, c: number, s: number): boolean {
  return v.t ? v.attr.rowAllPruned(c, s) : v.attr.colAllPruned(c, s);
}

function pruneRowOf(a: SparsityAttr, t: boolean, r: number, s: number): void {
  if (t) a.pruneCol(r, s);
  else a.pruneRow(r, s);
}

/** Prunes the flagged logical columns of slice s. */
function pruneColsOf(a: SparsityAttr, t: boolean, flags: Uint8Array, s: number): void {
  if (t) {
    for (let c = 0; c < flags.length; c++) if (flags[c]) a.pruneRow(c, s);
  } else a.pruneCols(flags, s);
}

interface Core {
  y: SparsityAttr;
  zeroY: SparsityAttr | undefined;
  deadA: SparsityAttr | undefined;
  deadB: SparsityAttr | undefined;
}

/**
 * The product of A (logical [.., M, K]) and B (logical [.., K, N]) into Y [.., M, N]. Operands
 * without an attribute count as dense.
 */
function matmulCore(aShape: readonly number[], bShape: readonly number[], a: View, b: View, y: SparsityAttr): Core {
  const M = y.rows;
  const N = y.cols;
  const K = a.t ? a.attr.rows : a.attr.cols;
  const yBatch = y.shape.slice(0, -2);
  const aMap = broadcastMap(yBatch, aShape.slice(0, -2));
  const bMap = broadcastMap(yBatch, bShape.slice(0, -2));
  const sliceCount = y.slices;

  let zeroY: SparsityAttr | undefined;
  const zy = (): SparsityAttr => (zeroY ??= new SparsityAttr(y.shape));
  if (a.attr.count() > 0 || b.attr.count() > 0) {
    const colFlags = new Uint8Array(N);
    for (let s = 0; s < sliceCount; s++) {
      const sa = aMap[s];
      const sb = bMap[s];
      let covered = true;
      for (let k = 0; k < K && covered; k++) if (!colAll(a, k, sa) && !rowAll(b, k, sb)) covered = false;
      if (covered) {
        for (let m = 0; m < M; m++) if (!y.rowAllPruned(m, s)) zy().pruneRow(m, s);
        continue;
      }
      if (a.attr.count() > 0) for (let m = 0; m < M; m++) if (rowAll(a, m, sa) && !y.rowAllPruned(m, s)) zy().pruneRow(m, s);
      if (b.attr.count() > 0) {
        let any = false;
        for (let n = 0; n < N; n++) any = (colFlags[n] = colAll(b, n, sb) && !y.colAllPruned(n, s) ? 1 : 0) === 1 || any;
        if (any) zy().pruneCols(colFlags, s);
      }
    }
  }

  // Backward: Y slices that read each A / B slice.
  const aSlices = a.attr.slices;
  const bSlices = b.attr.slices;
  let deadA: SparsityAttr | undefined;
  let deadB: SparsityAttr | undefined;
  const da = (): SparsityAttr => (deadA ??= new SparsityAttr(a.attr.shape));
  const db = (): SparsityAttr => (deadB ??= new SparsityAttr(b.attr.shape));
  const readersA: number[][] = Array.from({ length: aSlices }, () => []);
  const readersB: number[][] = Array.from({ length: bSlices }, () => []);
  for (let s = 0; s < sliceCount; s++) {
    readersA[aMap[s]].push(s);
    readersB[bMap[s]].push(s);
  }
  const yAny = y.count() > 0;
  const kFlags = new Uint8Array(K);
  const nFlags = new Uint8Array(N);
  for (let sa = 0; sa < aSlices; sa++) {
    const rs = readersA[sa];
    if (rs.length === 0) continue;
    if (yAny) for (let m = 0; m < M; m++) if (!rowAll(a, m, sa) && rs.every((s) => y.rowAllPruned(m, s))) pruneRowOf(da(), a.t, m, sa);
    if (b.attr.count() > 0) {
      let any = false;
      for (let k = 0; k < K; k++) any = (kFlags[k] = !colAll(a, k, sa) && rs.every((s) => rowAll(b, k, bMap[s])) ? 1 : 0) === 1 || any;
      if (any) pruneColsOf(da(), a.t, kFlags, sa);
    }
  }
  for (let sb = 0; sb < bSlices; sb++) {
    const rs = readersB[sb];
    if (rs.length === 0) continue;
    if (yAny) {
      let any = false;
      for (let n = 0; n < N; n++) any = (nFlags[n] = !colAll(b, n, sb) && rs.every((s) => y.colAllPruned(n, s)) ? 1 : 0) === 1 || any;
      if (any) pruneColsOf(db(), b.t, nFlags, sb);
    }
    if (a.attr.count() > 0) for (let k = 0; k < K; k++) if (!rowAll(b, k, sb) && rs.every((s) => colAll(a, k, aMap[s]))) pruneRowOf(db(), b.t, k, sb);
  }
  return { y, zeroY, deadA, deadB };
}

function dense(shape: readonly number[]): SparsityAttr {
  return new SparsityAttr(shape);
}

export function matmulRule(ctx: RuleContext): RuleResult {
  const [aShape, bShape] = ctx.inShapes;
  const yShape = ctx.outShapes[0];
  const y = ctx.outputs[0];
  if (!aShape || !bShape || !yShape || !y || aShape.length < 2 || bShape.length < 2) return {};
  const a: View = { attr: ctx.inputs[0] ?? dense(aShape), t: false };
  const b: View = { attr: ctx.inputs[1] ?? dense(bShape), t: false };
  const core = matmulCore(aShape, bShape, a, b, y);
  return { outputs: [core.zeroY], inputs: [core.deadA, core.deadB] };
}

export function gemmRule(ctx: RuleContext): RuleResult {
  const [aShape, bShape, cShape] = ctx.inShapes;
  const yShape = ctx.outShapes[0];
  const y = ctx.outputs[0];
  if (!aShape || !bShape || !yShape || !y || aShape.length !== 2 || bShape.length !== 2) return {};
  const a: View = { attr: ctx.inputs[0] ?? dense(aShape), t: attrInt(ctx.node, 'transA', 0) !== 0 };
  const b: View = { attr: ctx.inputs[1] ?? dense(bShape), t: attrInt(ctx.node, 'transB', 0) !== 0 };
  const core = matmulCore([], [], a, b, y);
  let zeroY = core.zeroY;
  const c = ctx.inputs[2];
  const beta = ctx.node.attrs.beta?.type === 'float' ? ctx.node.attrs.beta.value : 1;
  if (zeroY && ctx.node.inputs[2] && beta !== 0) {
    // Y = A·B + C is zero only where C is zero too.
    if (!c || !cShape) return { outputs: [undefined], inputs: [core.deadA, core.deadB, undefined] };
    const map = broadcastMap(yShape, cShape);
    const kept = new SparsityAttr(yShape);
    zeroY.forEachPruned((o) => {
      if (c.isPruned(map[o])) kept.prune(o);
    });
    zeroY = kept.count() > 0 ? kept : undefined;
  }
  const deadC = cShape && ctx.node.inputs[2] ? broadcastBackward(y, cShape) : undefined;
  return { outputs: [zeroY], inputs: [core.deadA, core.deadB, deadC] };
}

registerRule('MatMul', matmulRule);
registerRule('Gemm', gemmRule);
