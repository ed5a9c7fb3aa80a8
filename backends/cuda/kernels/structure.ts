/**
 * The sparsity structure a CUDA kernel bakes in, read off a weight's mask in its math view
 * W[N×K] (N output features, K input features, row-major): the kept K-blocks of each block
 * row for `block:RxC`, and for `tile:G` the kept output features grouped in tiles of G with
 * each tile's kept input features. Pure functions of the mask, so the generated source (and
 * its hash) is a pure function of the mask too.
 */
import { TesaError } from '../../../src/errors.js';

export interface BlockStructure {
  kind: 'block';
  N: number;
  K: number;
  R: number;
  C: number;
  /** rowPtr[b]..rowPtr[b+1] index colIdx for block row b (N/R + 1 entries). */
  rowPtr: number[];
  /** Kept K-block indices (k0 = idx·C), block row after block row, ascending within a row. */
  colIdx: number[];
}

export interface Tile {
  /** Output features (rows of W) this tile computes, ascending; at most G. */
  rows: number[];
  /** Input features (columns of W) any of those rows keeps, ascending. */
  ks: number[];
}

export interface TileStructure {
  kind: 'tile';
  N: number;
  K: number;
  G: number;
  tiles: Tile[];
  /** Output features pruned whole: their outputs are zero. */
  zeroRows: number[];
}

function checkMask(mask: Uint8Array, N: number, K: number): void {
  if (mask.length !== N * K) throw new TesaError('BAD_INPUT', `mask has ${mask.length} elements, expected ${N}×${K}`, 'pass the mask in the math view N×K');
}

/** A block is kept when any of its elements is kept (the kernel multiplies the block's zeros too). */
export function blockStructure(mask: Uint8Array, N: number, K: number, R: number, C: number): BlockStructure {
  checkMask(mask, N, K);
  if (N % R !== 0 || K % C !== 0) {
    throw new TesaError('UNSUPPORTED', `block ${R}x${C} does not tile a ${N}×${K} weight`, 'choose a block shape that divides the weight');
  }
  const rowPtr = [0];
  const colIdx: number[] = [];
  for (let br = 0; br < N / R; br++) {
    for (let bc = 0; bc < K / C; bc++) {
      let kept = false;
      for (let r = 0; r < R && !kept; r++) {
        const base = (br * R + r) * K + bc * C;
        for (let c = 0; c < C; c++) if (mask[base + c]) { kept = true; break; }
      }
      if (kept) colIdx.push(bc);
    }
    rowPtr.push(colIdx.length);
  }
  return { kind: 'block', N, K, R, C, rowPtr, colIdx };
}

/** Kept output features in order, cut into tiles of G; each tile keeps the union of its rows' kept columns. */
export function tileStructure(mask: Uint8Array, N: number, K: number, G: number): TileStructure {
  checkMask(mask, N, K);
  const keptRows: number[] = [];
  const zeroRows: number[] = [];
  for (let n = 0; n < N; n++) {
    let any = false;
    for (let k = 0; k < K; k++) if (mask[n * K + k]) { any = true; break; }
    (any ? keptRows : zeroRows).push(n);
  }
  const tiles: Tile[] = [];
  for (let t = 0; t < keptRows.length; t += G) {
    const rows = keptRows.slice(t, t + G);
    const ks: number[] = [];
    for (let k = 0; k < K; k++) if (rows.some((n) => mask[n * K + k])) ks.push(k);
    tiles.push({ rows, ks });
  }
  return { kind: 'tile', N, K, G, tiles, zeroRows };
}

/** True when every group of M consecutive elements along K keeps at most Nkeep (e.g. 2 of 4). */
export function isNm(mask: Uint8Array, N: number, K: number, nKeep: number, m: number): boolean {
  checkMask(mask, N, K);
  if (K % m !== 0) return false;
  for (let i = 0; i < N * K; i += m) {
    let kept = 0;
    for (let j = 0; j < m; j++) kept += mask[i + j];
    if (kept > nKeep) return false;
  }
  return true;
}

/** Fraction of multiply-adds the kernel does relative to dense (blocks/tiles are computed whole). */
export function computedFraction(s: BlockStructure | TileStructure): number {
  if (s.kind === 'block') return s.colIdx.length / ((s.N / s.R) * (s.K / s.C));
  let macs = 0;
  for (const t of s.tiles) macs += t.rows.length * t.ks.length;
  return macs / (s.N * s.K);
}
