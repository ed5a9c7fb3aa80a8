/**
 * Sparse structures derived from a mask, in the math view W[N×K] (n-major): block rows of
 * kept blocks (BSR), rows of kept elements (CSR), and row groups sharing an input-feature list
 * (tile-wise and shrunk dense). A structure says which weights a kernel multiplies; values
 * not in the mask but inside a kept block are explicit zeros (SparTA Fig. 7: stray elements
 * assimilated into blocks).
 */

export interface SparseGemmProblem {
  /** tokens */
  m: number;
  /** output features */
  n: number;
  /** input features */
  k: number;
  /** W[N×K] n-major; pruned entries may hold anything, the mask decides. */
  weight: Float32Array;
  /** N×K n-major, 1 = kept. */
  mask: Uint8Array;
}

export interface Bsr {
  r: number;
  c: number;
  /** block-row pointers into cols, length N/r + 1 */
  rowPtr: number[];
  /** block column index of each kept block */
  cols: number[];
}

/** Blocks kept: those with at least `minFill` kept elements (minFill 1 = every block touching the mask). */
export function bsrCover(p: SparseGemmProblem, r: number, c: number, minFill = 1): Bsr {
  const nbr = p.n / r, nbc = p.k / c;
  const rowPtr = [0];
  const cols: number[] = [];
  for (let br = 0; br < nbr; br++) {
    for (let bc = 0; bc < nbc; bc++) {
      let cnt = 0;
      for (let i = 0; i < r; i++) {
        const base = (br * r + i) * p.k + bc * c;
        for (let j = 0; j < c; j++) cnt += p.mask[base + j]!;
      }
      if (cnt >= minFill && cnt > 0) cols.push(bc);
    }
    rowPtr.push(cols.length);
  }
  return { r, c, rowPtr, cols };
}

/** Packs block values [block][c][r] so that each step along K broadcasts r consecutive floats. */
export function packBsr(p: SparseGemmProblem, b: Bsr): Float32Array {
  const out = new Float32Array(b.cols.length * b.r * b.c);
  let o = 0;
  for (let br = 0; br + 1 < b.rowPtr.length; br++) {
    for (let q = b.rowPtr[br]!; q < b.rowPtr[br + 1]!; q++) {
      const k0 = b.cols[q]! * b.c;
      for (let j = 0; j < b.c; j++) {
        for (let i = 0; i < b.r; i++) {
          const idx = (br * b.r + i) * p.k + k0 + j;
          out[o++] = p.mask[idx] ? p.weight[idx]! : 0;
        }
      }
    }
  }
  return out;
}

/** Mask minus the elements covered by the BSR blocks: the fine residual of a decomposed plan. */
export function residualMask(p: SparseGemmProblem, b: Bsr): Uint8Array {
  const res = Uint8Array.from(p.mask);
  for (let br = 0; br + 1 < b.rowPtr.length; br++) {
    for (let q = b.rowPtr[br]!; q < b.rowPtr[br + 1]!; q++) {
      const k0 = b.cols[q]! * b.c;
      for (let i = 0; i < b.r; i++) res.fill(0, (br * b.r + i) * p.k + k0, (br * b.r + i) * p.k + k0 + b.c);
    }
  }
  return res;
}

/**
 * Row groups: `rb` output rows (slot value N = a padding row whose results are discarded)
 * multiplying the same input-feature list. CSR is rb = 1 with one group per non-empty row.
 */
export interface RowGroups {
  rb: number;
  /** output row per slot, length groups × rb */
  rows: number[];
  /** pointers into kidx, length groups + 1 */
  ptr: number[];
  kidx: number[];
}

export function csrGroups(p: SparseGemmProblem, mask: Uint8Array = p.mask): RowGroups {
  const rows: number[] = [];
  const ptr = [0];
  const kidx: number[] = [];
  for (let i = 0; i < p.n; i++) {
    const start = kidx.length;
    for (let j = 0; j < p.k; j++) if (mask[i * p.k + j]) kidx.push(j);
    if (kidx.length > start) {
      rows.push(i);
      ptr.push(kidx.length);
    }
  }
  return { rb: 1, rows, ptr, kidx };
}

/**
 * Tile-wise groups: the non-empty rows in order, chunked in tiles of g; each tile multiplies
 * the union of its rows' kept input features (a dense sub-GEMM over gathered columns), split
 * into slices of rb rows for register blocking. With g ≥ N this is shrunk dense: kept rows ×
 * the union of kept columns.
 */
export function tileGroups(p: SparseGemmProblem, g: number, rb: number, mask: Uint8Array = p.mask): RowGroups {
  const live: number[] = [];
  for (let i = 0; i < p.n; i++) {
    let any = 0;
    for (let j = 0; j < p.k && !any; j++) any = mask[i * p.k + j]!;
    if (any) live.push(i);
  }
  const rows: number[] = [];
  const ptr = [0];
  const kidx: number[] = [];
  for (let t = 0; t < live.length; t += g) {
    const tile = live.slice(t, t + g);
    const ks: number[] = [];
    for (let j = 0; j < p.k; j++) if (tile.some((i) => mask[i * p.k + j])) ks.push(j);
    for (let s = 0; s < tile.length; s += rb) {
      for (let q = 0; q < rb; q++) rows.push(tile[s + q] ?? p.n);
      kidx.push(...ks);
      ptr.push(kidx.length);
    }
  }
  return { rb, rows, ptr, kidx };
}

/** Packs group values [position in kidx][rb]. */
export function packGroups(p: SparseGemmProblem, gr: RowGroups, mask: Uint8Array = p.mask): Float32Array {
  const out = new Float32Array(gr.kidx.length * gr.rb);
  for (let g = 0; g + 1 < gr.ptr.length; g++) {
    for (let q = gr.ptr[g]!; q < gr.ptr[g + 1]!; q++) {
      const j = gr.kidx[q]!;
      for (let s = 0; s < gr.rb; s++) {
        const i = gr.rows[g * gr.rb + s]!;
        const idx = i * p.k + j;
        out[q * gr.rb + s] = i < p.n && mask[idx] ? p.weight[idx]! : 0;
      }
    }
  }
  return out;
}

export function countKept(mask: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < mask.length; i++) c += mask[i]!;
  return c;
}

/** Packs values for the column-unit BSR traversal: per entry, [c < cu][r < R] from W masked. */
export function packBsrUnits(p: SparseGemmProblem, r: number, cu: number, order: Array<{ br: number; k0: number }>): Float32Array {
  const out = new Float32Array(order.length * r * cu);
  let o = 0;
  for (const e of order) {
    for (let j = 0; j < cu; j++) {
      for (let i = 0; i < r; i++) {
        const idx = (e.br * r + i) * p.k + e.k0 + j;
        out[o++] = p.mask[idx] ? p.weight[idx]! : 0;
      }
    }
  }
  return out;
}
