/**
 * View algebra: every shape-only ONNX op (Reshape, Transpose, Unsqueeze, Squeeze, Flatten,
 * Expand by broadcasting) as a change of strides, or null when the data would have to move.
 */
import type { View } from './program.js';

export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export function contiguousView(buf: number, shape: readonly number[]): View {
  return { buf, offset: 0, shape: [...shape], strides: rowMajorStrides(shape) };
}

/**
 * Packed strides that lay the dims out in `order` (outermost first): the storage order of a
 * materialised tensor. Row-major is order [0, 1, …].
 */
export function stridesInOrder(shape: readonly number[], order: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(0);
  let acc = 1;
  for (let i = order.length - 1; i >= 0; i--) {
    const d = order[i]!;
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Dims from outermost to innermost as `strides` store them (ties and size-1 dims keep logical order). */
export function storageOrder(shape: readonly number[], strides: readonly number[]): number[] {
  const dims = shape.map((_, i) => i);
  const key = (d: number): number => (shape[d] === 1 ? -1 : strides[d]!);
  return dims.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka === -1 || kb === -1 || ka === kb) return a - b;
    return kb - ka;
  });
}

/** Numpy broadcasting: align right, size-1 (or missing) dims get stride 0. */
export function broadcastView(v: View, shape: readonly number[]): View {
  const lead = shape.length - v.shape.length;
  if (lead < 0) throw new Error(`cannot broadcast [${v.shape}] to [${shape}]`);
  const strides = shape.map((d, i) => {
    const j = i - lead;
    if (j < 0) return 0;
    const sd = v.shape[j]!;
    if (sd === d) return sd === 1 ? 0 : v.strides[j]!;
    if (sd === 1) return 0;
    throw new Error(`cannot broadcast [${v.shape}] to [${shape}]`);
  });
  return { buf: v.buf, offset: v.offset, shape: [...shape], strides };
}

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function transposeView(v: View, perm: readonly number[]): View {
  return { buf: v.buf, offset: v.offset, shape: perm.map((p) => v.shape[p]!), strides: perm.map((p) => v.strides[p]!) };
}

/**
 * The view of `v` with shape `shape` (same element count, row-major element order), or null
 * when no strides express it. Numpy's no-copy reshape: groups of old dims whose product
 * equals a group of new dims; a group of old dims must be contiguous among themselves.
 */
export function reshapeView(v: View, shape: readonly number[]): View | null {
  if (product(shape) !== product(v.shape)) return null;
  const oldShape: number[] = [];
  const oldStrides: number[] = [];
  v.shape.forEach((d, i) => {
    if (d !== 1) {
      oldShape.push(d);
      oldStrides.push(v.strides[i]!);
    }
  });
  const newStrides = new Array<number>(shape.length).fill(0);
  let oi = 0;
  let oj = 1;
  let ni = 0;
  let nj = 1;
  while (ni < shape.length && oi < oldShape.length) {
    let np = shape[ni]!;
    let op = oldShape[oi]!;
    while (np !== op) {
      if (np < op) np *= shape[nj++]!;
      else op *= oldShape[oj++]!;
    }
    for (let k = oi; k < oj - 1; k++) if (oldStrides[k] !== oldShape[k + 1]! * oldStrides[k + 1]!) return null;
    newStrides[nj - 1] = oldStrides[oj - 1]!;
    for (let k = nj - 1; k > ni; k--) newStrides[k - 1] = newStrides[k]! * shape[k]!;
    ni = nj++;
    oi = oj++;
  }
  // Trailing size-1 dims of the new shape.
  for (let k = ni; k < shape.length; k++) newStrides[k] = 1;
  for (let k = 0; k < shape.length; k++) if (shape[k] === 1) newStrides[k] = 0;
  return { buf: v.buf, offset: v.offset, shape: [...shape], strides: newStrides };
}

/**
 * Merges dims that walk memory as one for every view given (same shapes): the outer stride is
 * the inner stride times the inner size in all of them. Used to cut index arithmetic in
 * generated kernels. Dims are visited in `order` (outermost first); returns the merged shape
 * and, per view, the merged strides, both outermost first.
 */
export function mergeDims(shape: readonly number[], strideSets: ReadonlyArray<readonly number[]>, order: readonly number[]): { shape: number[]; strides: number[][] } {
  const dims = order.filter((d) => shape[d] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = strideSets.map(() => []);
  for (const d of dims) {
    const last = outShape.length - 1;
    const canMerge = last >= 0 && strideSets.every((s, i) => outStrides[i]![last] === shape[d]! * s[d]!);
    if (canMerge) {
      outShape[last] = outShape[last]! * shape[d]!;
      strideSets.forEach((s, i) => (outStrides[i]![last] = s[d]!));
    } else {
      outShape.push(shape[d]!);
      strideSets.forEach((s, i) => outStrides[i]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((s) => s.push(0));
  }
  return { shape: outShape, strides: outStrides };
}
