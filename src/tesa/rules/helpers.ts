/** Index arithmetic the rules share: axis summaries, broadcasting maps, element-order maps. */
import { SparsityAttr } from '../attributes.js';

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Pruned count per index along `axis`. */
export function axisCounts(attr: SparsityAttr, axis: number): Int32Array {
  const dim = attr.shape[axis] ?? 1;
  const counts = new Int32Array(dim);
  if (attr.count() === 0) return counts;
  let inner = 1;
  for (let d = axis + 1; d < attr.shape.length; d++) inner *= attr.shape[d];
  attr.forEachPruned((i) => {
    counts[((i / inner) | 0) % dim]++;
  });
  return counts;
}

/** 1 where every element with that index along `axis` is pruned. */
export function axisAllPruned(attr: SparsityAttr, axis: number): Uint8Array {
  return attr.allPrunedAlong(axis);
}

/** An attribute of `shape` with the indices flagged in `flags` pruned along `axis`. */
export function attrFromAxisFlags(shape: readonly number[], axis: number, flags: Uint8Array): SparsityAttr | undefined {
  let any = false;
  for (let k = 0; k < flags.length; k++) if (flags[k]) any = true;
  if (!any) return undefined;
  const a = new SparsityAttr(shape);
  a.pruneAlong(axis, flags);
  return a;
}

const broadcastMaps = new Map<string, Int32Array>();

/** For every element of `outShape`, the element of `inShape` that numpy broadcasting reads. */
export function broadcastMap(outShape: readonly number[], inShape: readonly number[]): Int32Array {
  const key = `${outShape.join(',')}|${inShape.join(',')}`;
  const hit = broadcastMaps.get(key);
  if (hit) return hit;
  const rank = outShape.length;
  const off = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  const eff = outShape.map((d, k) => (k < off || inShape[k - off] === 1 ? 0 : inStrides[k - off]));
  let n = 1;
  for (const d of outShape) n *= d;
  const map = new Int32Array(n);
  const idx = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let o = 0; o < n; o++) {
    map[o] = cur;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      cur += eff[d];
      if (idx[d] < outShape[d]) break;
      cur -= eff[d] * outShape[d];
      idx[d] = 0;
    }
  }
  if (broadcastMaps.size > 512) broadcastMaps.clear();
  broadcastMaps.set(key, map);
  return map;
}

/** Length of the trailing block an input repeats when it broadcasts as a plain suffix, else 0. */
function suffixLength(outShape: readonly number[], inShape: readonly number[]): number {
  let k = 0;
  while (k < inShape.length && inShape[k] === 1) k++;
  const core = inShape.slice(k);
  if (core.length > outShape.length) return 0;
  const off = outShape.length - core.length;
  for (let d = 0; d < core.length; d++) if (core[d] !== outShape[off + d]) return 0;
  return core.reduce((a, b) => a * b, 1);
}

/** The input's pruned bits repeated over the output (suffix broadcasting), or null when not a suffix. */
function tiledBits(attr: SparsityAttr, outShape: readonly number[], inShape: readonly number[], outSize: number): Uint32Array | null {
  const len = suffixLength(outShape, inShape);
  if (len === 0 || len !== attr.size) return null;
  const words = new Uint32Array((outSize + 31) >>> 5);
  const src = attr.bitset();
  if (src === null) return words;
  if (len % 32 === 0) {
    const per = len >>> 5;
    for (let w = 0; w < words.length; w += per) words.set(src.subarray(0, Math.min(per, words.length - w)), w);
    return words;
  }
  for (let i = 0; i < outSize; i++) {
    const j = i % len;
    if ((src[j >>> 5] >>> (j & 31)) & 1) words[i >>> 5] |= 1 << (i & 31);
  }
  return words;
}

/**
 * Forward through a broadcasting element-wise op. `zeroWhenAll`: the output is zero only where
 * every input is zero (Add); otherwise where any input is zero (Mul).
 */
export function broadcastForward(outShape: readonly number[], ins: { attr: SparsityAttr; shape: readonly number[] }[], zeroWhenAll: boolean): SparsityAttr | undefined {
  if (ins.length === 0) return undefined;
  if (zeroWhenAll && ins.some((x) => x.attr.count() === 0)) return undefined;
  if (!zeroWhenAll && ins.every((x) => x.attr.count() === 0)) return undefined;
  const out = new SparsityAttr(outShape);
  const direct = ins.filter((x) => sameShape(x.shape, outShape));
  if (direct.length === ins.length) {
    const words = new Uint32Array((out.size + 31) >>> 5);
    if (zeroWhenAll) {
      words.set(direct[0].attr.bitset()!);
      for (let k = 1; k < direct.length; k++) {
        const b = direct[k].attr.bitset()!;
        for (let w = 0; w < words.length; w++) words[w] &= b[w];
      }
    } else {
      for (const x of direct) {
        const b = x.attr.bitset();
        if (b) for (let w = 0; w < words.length; w++) words[w] |= b[w];
      }
    }
    out.orBits(words);
    return out.count() === 0 ? undefined : out;
  }
  const tiled = ins.map((x) => (sameShape(x.shape, outShape) ? x.attr.bitset() ?? new Uint32Array((out.size + 31) >>> 5) : tiledBits(x.attr, outShape, x.shape, out.size)));
  if (tiled.every((t) => t !== null)) {
    const words = new Uint32Array((out.size + 31) >>> 5);
    if (zeroWhenAll) {
      words.set(tiled[0]!);
      for (let k = 1; k < tiled.length; k++) for (let w = 0; w < words.length; w++) words[w] &= tiled[k]![w];
    } else for (const t of tiled) for (let w = 0; w < words.length; w++) words[w] |= t![w];
    out.orBits(words);
    return out.count() === 0 ? undefined : out;
  }
  const maps = ins.map((x) => (sameShape(x.shape, outShape) ? null : broadcastMap(outShape, x.shape)));
  for (let o = 0; o < out.size; o++) {
    let zero = zeroWhenAll;
    for (let k = 0; k < ins.length; k++) {
      const m = maps[k];
      const p = ins[k].attr.isPruned(m === null ? o : m[o]);
      if (zeroWhenAll && !p) {
        zero = false;
        break;
      }
      if (!zeroWhenAll && p) {
        zero = true;
        break;
      }
    }
    if (zero) out.prune(o);
  }
  return out.count() === 0 ? undefined : out;
}

/** Backward through broadcasting: an input element is dead when every output reading it is pruned. */
export function broadcastBackward(out: SparsityAttr, inShape: readonly number[]): SparsityAttr | undefined {
  if (out.count() === 0) return undefined;
  const a = new SparsityAttr(inShape);
  if (sameShape(inShape, out.shape)) {
    a.orBits(out.bitset()!);
    return a;
  }
  if (a.size === 1) {
    // A scalar operand is dead only when the whole output is.
    if (out.allPruned()) a.prune(0);
    return a.count() === 0 ? undefined : a;
  }
  const len = suffixLength(out.shape, inShape);
  if (len >= 32 && len === a.size) {
    const words = out.andOfRows(len);
    a.orBits(words);
    return a.count() === 0 ? undefined : a;
  }
  const map = broadcastMap(out.shape, inShape);
  const fan = out.size / a.size;
  const counts = new Int32Array(a.size);
  out.forEachPruned((o) => {
    counts[map[o]]++;
  });
  for (let i = 0; i < a.size; i++) if (counts[i] === fan) a.prune(i);
  return a.count() === 0 ? undefined : a;
}

/** Same elements in the same order, another shape (Reshape, Flatten, Squeeze, Identity, Cast…). */
export function reshaped(src: SparsityAttr | undefined, shape: readonly number[] | undefined): SparsityAttr | undefined {
  if (!src || !shape || src.count() === 0) return undefined;
  const a = new SparsityAttr(shape);
  if (a.size !== src.size) return undefined;
  a.orBits(src.bitset()!);
  return a;
}

/** Transpose: output index → input index. */
export function transposeMap(inShape: readonly number[], perm: readonly number[]): Int32Array {
  const outShape = perm.map((p) => inShape[p]);
  const inStrides = stridesOf(inShape);
  const eff = perm.map((p) => inStrides[p]);
  const n = outShape.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const rank = outShape.length;
  const idx = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let o = 0; o < n; o++) {
    map[o] = cur;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      cur += eff[d];
      if (idx[d] < outShape[d]) break;
      cur -= eff[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return map;
}

export function isFloatData(x: unknown): x is Float32Array | Float64Array {
  return x instanceof Float32Array || x instanceof Float64Array;
}
