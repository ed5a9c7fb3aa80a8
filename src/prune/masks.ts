/**
 * Importance-ranked pruning masks for every pattern (1 = kept, 0 = pruned), in the weight's
 * stored layout. Each pattern ranks its unit (element, block, row, column, tile row, N:M
 * group) by the summed element importance and prunes the least important units until the
 * target ratio is met as closely as the unit size allows; `maskedFraction` gives the achieved
 * ratio. Ties break by position, so a mask is a pure function of (weight, pattern, ratio, opts).
 *
 * Layout (see pattern.ts): the math view of a weight is W[N×K], N = output features.
 * `axisForChannel` names the stored axis holding N: 0 for Conv [O,I,kh,kw] and Gemm transB=1
 * [N,K] (K is then the product of the other dims), 1 for a MatMul weight stored [K,N].
 */
import { TesaError } from '../errors.js';
import type { LayerGroup } from '../tesa/layer-group.js';
import type { Pattern } from '../plan/sparsity.js';
import { elementImportance, type ImportanceKind } from './importance.js';
import { parsePattern, type ParsedPattern } from './pattern.js';

export interface WeightView {
  data: Float32Array;
  shape: number[];
}

export interface MaskOptions {
  importance?: ImportanceKind;
  /** ∂L/∂w for Taylor importance. */
  gradient?: Float32Array;
  /** Coarse pruning keeps the kept channel count at a multiple of this (backend capabilities). Default 1. */
  channelMultiple?: number;
  /** Stored axis holding the output features N (default 0; 1 for MatMul's [K,N]). */
  axisForChannel?: number;
  /** Name used in error messages. */
  weightName?: string;
  /** tile:G only: fraction of the TW pruning spent on whole output features before per-tile row pruning (default 0.25). */
  tileOutputShare?: number;
}

/** The math view N×K of a stored weight: index maps between the two. */
export interface MathView {
  n: number;
  k: number;
  /** Stored flat index of W[n][k]. */
  storedIndex(n: number, k: number): number;
}

export function mathView(name: string, shape: number[], axisForChannel = 0): MathView {
  if (shape.length < 2) {
    throw new TesaError('BAD_INPUT', `weight '${name}' of shape [${shape.join(',')}] is not a matrix`, 'only weights with 2 or more dims can be pruned');
  }
  if (axisForChannel === 0) {
    const n = shape[0]!;
    const k = shape.slice(1).reduce((a, b) => a * b, 1);
    return { n, k, storedIndex: (i, j) => i * k + j };
  }
  if (axisForChannel === 1 && shape.length === 2) {
    const k = shape[0]!;
    const n = shape[1]!;
    return { n, k, storedIndex: (i, j) => j * n + i };
  }
  throw new TesaError('BAD_INPUT', `weight '${name}' of shape [${shape.join(',')}]: output axis ${axisForChannel} is not supported`, 'the output-feature axis is 0, or 1 for a 2-D MatMul weight [K,N]');
}

/**
 * Marks the `count` lowest-scored units as pruned (true). Ties resolve by lower index first,
 * so the result is deterministic.
 */
export function lowestUnits(scores: Float64Array, count: number): Uint8Array {
  const pruned = new Uint8Array(scores.length);
  if (count <= 0) return pruned;
  if (count >= scores.length) return pruned.fill(1);
  const sorted = Float64Array.from(scores).sort();
  const threshold = sorted[count - 1]!;
  let taken = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i]! < threshold) { pruned[i] = 1; taken++; }
  for (let i = 0; i < scores.length && taken < count; i++) if (scores[i] === threshold) { pruned[i] = 1; taken++; }
  return pruned;
}

/** Kept count for coarse pruning: closest to the ratio, a multiple of `multiple`, at least one multiple. */
export function coarseKeptCount(total: number, ratio: number, multiple: number): number {
  const want = (1 - ratio) * total;
  if (multiple <= 1) return Math.max(1, Math.min(total, Math.round(want)));
  if (total <= multiple) return total;
  const k = Math.round(want / multiple) * multiple;
  return Math.max(multiple, Math.min(total, k));
}

function checkRatio(name: string, ratio: number): void {
  if (!(ratio >= 0 && ratio < 1)) {
    throw new TesaError('BAD_INPUT', `sparsity ratio ${ratio} for '${name}' is outside [0, 1)`, 'give the pruned fraction, e.g. 0.8');
  }
}

/** Element importance laid out in the math view, n-major (index n*K + k). */
function mathScores(w: WeightView, view: MathView, opts: MaskOptions, name: string): Float64Array {
  const stored = elementImportance(name, w.data, { importance: opts.importance, gradient: opts.gradient });
  const out = new Float64Array(view.n * view.k);
  for (let n = 0; n < view.n; n++) for (let k = 0; k < view.k; k++) out[n * view.k + k] = stored[view.storedIndex(n, k)]!;
  return out;
}

/** Math-view keep mask (n-major) for a parsed pattern. */
export function mathMask(scores: Float64Array, n: number, k: number, p: ParsedPattern, ratio: number, opts: MaskOptions, name: string): Uint8Array {
  const total = n * k;
  const keep = new Uint8Array(total).fill(1);
  switch (p.kind) {
    case 'dense':
      return keep;
    case 'fine': {
      const pruned = lowestUnits(scores, Math.round(ratio * total));
      for (let i = 0; i < total; i++) if (pruned[i]) keep[i] = 0;
      return keep;
    }
    case 'block': {
      const { rows: R, cols: C } = p;
      if (n % R !== 0 || k % C !== 0) {
        throw new TesaError('BAD_INPUT', `block ${R}x${C} does not divide weight '${name}' (N×K = ${n}×${k})`, `choose R dividing ${n} and C dividing ${k}`);
      }
      const bn = n / R, bk = k / C;
      const s = new Float64Array(bn * bk);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) s[Math.floor(i / R) * bk + Math.floor(j / C)]! += scores[i * k + j]!;
      const pruned = lowestUnits(s, Math.round(ratio * bn * bk));
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) if (pruned[Math.floor(i / R) * bk + Math.floor(j / C)]) keep[i * k + j] = 0;
      return keep;
    }
    case 'row':
    case 'channel': {
      const s = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) s[i]! += scores[i * k + j]!;
      const pruned = lowestUnits(s, n - coarseKeptCount(n, ratio, opts.channelMultiple ?? 1));
      for (let i = 0; i < n; i++) if (pruned[i]) keep.fill(0, i * k, (i + 1) * k);
      return keep;
    }
    case 'col': {
      const s = new Float64Array(k);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) s[j]! += scores[i * k + j]!;
      const pruned = lowestUnits(s, k - coarseKeptCount(k, ratio, opts.channelMultiple ?? 1));
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) if (pruned[j]) keep[i * k + j] = 0;
      return keep;
    }
    case 'nm': {
      if (k % p.m !== 0) {
        throw new TesaError('BAD_INPUT', `nm:${p.n}:${p.m} needs K divisible by ${p.m}; weight '${name}' has K = ${k}`, 'choose M dividing the input features');
      }
      const grp = new Float64Array(p.m);
      for (let i = 0; i < n; i++) {
        for (let j0 = 0; j0 < k; j0 += p.m) {
          for (let t = 0; t < p.m; t++) grp[t] = scores[i * k + j0 + t]!;
          const pruned = lowestUnits(grp, p.m - p.n);
          for (let t = 0; t < p.m; t++) if (pruned[t]) keep[i * k + j0 + t] = 0;
        }
      }
      return keep;
    }
    case 'tile':
      return tileMask(scores, n, k, p.g, p.fineDelta, ratio, opts, keep);
  }
}

/**
 * Tile-wise (Guo et al., SC'20, Alg. 1) in the N×K view: first prune whole output features
 * (the paper's column pruning of B = Wᵀ), then re-tile the kept output features in groups of
 * G and prune, per tile, input features shared by the tile (row pruning of each B tile),
 * ranked globally by mean importance so tiles end up unevenly sparse. With a fine residual δ
 * (TEW) the TW part prunes ratio+δ and the δ most important pruned elements come back.
 */
function tileMask(scores: Float64Array, n: number, k: number, g: number, delta: number, ratio: number, opts: MaskOptions, keep: Uint8Array): Uint8Array {
  const total = n * k;
  const twRatio = Math.min(ratio + delta, 1 - 1 / total);
  const target = Math.round(twRatio * total);
  const share = opts.tileOutputShare ?? 0.25;
  const rowScore = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) rowScore[i]! += scores[i * k + j]!;
  const rowsPruned = Math.min(n - 1, Math.floor((target * share) / k));
  const prunedRows = lowestUnits(rowScore, rowsPruned);
  for (let i = 0; i < n; i++) if (prunedRows[i]) keep.fill(0, i * k, (i + 1) * k);
  let pruned = rowsPruned * k;
  const keptRows: number[] = [];
  for (let i = 0; i < n; i++) if (!prunedRows[i]) keptRows.push(i);
  const tiles = Math.ceil(keptRows.length / g);
  // Units (tile t, input feature j): mean importance over the tile's rows.
  const unitScore = new Float64Array(tiles * k);
  for (let t = 0; t < tiles; t++) {
    const rows = keptRows.slice(t * g, (t + 1) * g);
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (const i of rows) s += scores[i * k + j]!;
      unitScore[t * k + j] = s / rows.length;
    }
  }
  const order = Array.from({ length: tiles * k }, (_, u) => u).sort((a, b) => unitScore[a]! - unitScore[b]! || a - b);
  for (const u of order) {
    if (pruned >= target) break;
    const t = Math.floor(u / k), j = u % k;
    const rows = keptRows.slice(t * g, (t + 1) * g);
    // Stop where taking the unit would overshoot more than leaving it undershoots.
    if (pruned + rows.length - target > target - pruned) break;
    for (const i of rows) keep[i * k + j] = 0;
    pruned += rows.length;
  }
  if (delta > 0) {
    const restore = Math.round(delta * total);
    const neg = new Float64Array(total);
    for (let i = 0; i < total; i++) neg[i] = keep[i] ? Infinity : -scores[i]!;
    const back = lowestUnits(neg, restore);
    for (let i = 0; i < total; i++) if (back[i] && !keep[i]) keep[i] = 1;
  }
  return keep;
}

/** The mask for one weight, in its stored layout (1 = kept). */
export function makeMask(weight: WeightView, pattern: Pattern | ParsedPattern, ratio: number, opts: MaskOptions = {}): Uint8Array {
  const name = opts.weightName ?? 'weight';
  const p = typeof pattern === 'string' ? parsePattern(pattern, `pattern of '${name}'`) : pattern;
  checkRatio(name, ratio);
  const view = mathView(name, weight.shape, opts.axisForChannel ?? 0);
  if (view.n * view.k !== weight.data.length) {
    throw new TesaError('BAD_INPUT', `weight '${name}' has ${weight.data.length} elements but shape [${weight.shape.join(',')}]`, 'pass the weight data with its shape');
  }
  const scores = mathScores(weight, view, opts, name);
  const m = mathMask(scores, view.n, view.k, p, ratio, opts, name);
  const out = new Uint8Array(weight.data.length);
  for (let i = 0; i < view.n; i++) for (let j = 0; j < view.k; j++) out[view.storedIndex(i, j)] = m[i * view.k + j]!;
  return out;
}

export interface GroupMaskOptions {
  importance?: ImportanceKind;
  /** Gradients by weight name, for Taylor importance. */
  gradients?: Map<string, Float32Array>;
  channelMultiple?: number;
  /** Stored output axis of a weight for per-weight patterns (default 0). */
  axisForChannelOf?: (weight: string) => number;
}

/**
 * Masks for a layer group. Coarse patterns (row/col/channel) prune the group's coupled axis
 * once, ranked by the importance summed over every member, so every member drops the same
 * indices (whole `unit`s when the group has heads). Other patterns give each owned weight its
 * own mask at the group's ratio. Returns weight name → mask (stored layout).
 */
export function makeGroupMasks(
  group: LayerGroup,
  weights: Map<string, WeightView>,
  pattern: Pattern | ParsedPattern,
  ratio: number,
  opts: GroupMaskOptions = {},
): Map<string, Uint8Array> {
  const p = typeof pattern === 'string' ? parsePattern(pattern, `pattern of group '${group.id}'`) : pattern;
  checkRatio(group.id, ratio);
  const get = (w: string): WeightView => {
    const v = weights.get(w);
    if (!v) throw new TesaError('BAD_INPUT', `layer group '${group.id}' names weight '${w}' that was not supplied`, 'pass every member weight of the group');
    return v;
  };
  const masks = new Map<string, Uint8Array>();
  if (p.kind === 'row' || p.kind === 'col' || p.kind === 'channel') {
    const size = group.size;
    const s = new Float64Array(size);
    for (const mbr of group.members) {
      const w = get(mbr.weight);
      if (w.shape[mbr.axis] !== size) {
        throw new TesaError('BAD_INPUT', `weight '${mbr.weight}' axis ${mbr.axis} has ${w.shape[mbr.axis]} entries, group '${group.id}' has ${size}`, 'the group and the graph disagree');
      }
      const imp = elementImportance(mbr.weight, w.data, { importance: opts.importance, gradient: opts.gradients?.get(mbr.weight) });
      forEachAlongAxis(w.shape, mbr.axis, (flat, idx) => { s[idx]! += imp[flat]!; });
    }
    const unit = Math.max(1, group.unit);
    const units = Math.floor(size / unit);
    const us = new Float64Array(units);
    for (let i = 0; i < units * unit; i++) us[Math.floor(i / unit)]! += s[i]!;
    const multipleUnits = unit === 1 ? (opts.channelMultiple ?? 1) : 1;
    const keptUnits = coarseKeptCount(units, ratio, multipleUnits);
    const prunedUnits = lowestUnits(us, units - keptUnits);
    for (const mbr of group.members) {
      const w = get(mbr.weight);
      const m = masks.get(mbr.weight) ?? new Uint8Array(w.data.length).fill(1);
      forEachAlongAxis(w.shape, mbr.axis, (flat, idx) => { if (prunedUnits[Math.floor(idx / unit)]) m[flat] = 0; });
      masks.set(mbr.weight, m);
    }
    return masks;
  }
  for (const name of group.owned) {
    const w = get(name);
    masks.set(name, makeMask(w, p, ratio, {
      importance: opts.importance,
      gradient: opts.gradients?.get(name),
      channelMultiple: opts.channelMultiple,
      axisForChannel: opts.axisForChannelOf?.(name) ?? 0,
      weightName: name,
    }));
  }
  return masks;
}

/** Calls fn(flatIndex, indexAlongAxis) for every element of a row-major tensor. */
function forEachAlongAxis(shape: number[], axis: number, fn: (flat: number, idx: number) => void): void {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = shape[axis]!;
  const total = shape.reduce((a, b) => a * b, 1);
  for (let f = 0; f < total; f++) fn(f, Math.floor(f / inner) % dim);
}
