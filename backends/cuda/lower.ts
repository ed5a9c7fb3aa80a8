/**
 * Picks the CUDA kernel for one linear layer's weight (its pattern and mask in the math view
 * N×K) and lowers it to CUDA C++: cuBLAS for dense (no generated source: the runner calls
 * it), gemm-block for block:RxC, gemm-tile for tile:G and for row/col (the shrunk dense GEMM),
 * gemm-nm (cuSPARSELt) for nm:2:4.
 * With the 'wgmma' engine (Hopper, sm_90a) block and tile weights lower to gemm-gather
 * instead: dense warpgroup-MMA sub-GEMMs over gathered input features, on feature-major
 * activations.
 * Pure: the same mask gives the same source and the same hash.
 */
import { createHash } from 'node:crypto';
import { TesaError } from '../../src/errors.js';
import { parsePattern } from '../../src/prune/pattern.js';
import { DEFAULT_BLOCK_OPTIONS, lowerGemmBlock, type BlockKernelOptions } from './kernels/gemm-block.js';
import { lowerGemmNm, type NmLayout } from './kernels/gemm-nm.js';
import { DEFAULT_GATHER_BLOCK_OPTIONS, DEFAULT_GATHER_OPTIONS, gatherComputedFraction, gatherPlanFromBlocks, gatherPlanFromTiles, lowerGemmGather, type GatherKernelOptions, type GatherPlan } from './kernels/gemm-gather.js';
import { DEFAULT_TILE_OPTIONS, lowerGemmTile, type TileKernelOptions } from './kernels/gemm-tile.js';
import type { GemmShape } from './kernels/cuda-prelude.js';
import { blockStructure, computedFraction, isNm, tileStructure } from './kernels/structure.js';

export interface LoweredGemm {
  /** 'cublas-dense' | 'gemm-block' | 'gemm-tile' | 'gemm-gather' | 'gemm-nm'. */
  kernel: string;
  /** CUDA source of the kernel library; null for cuBLAS. */
  code: string | null;
  /** Links cuSPARSELt. */
  needsCusparseLt: boolean;
  /** Multiply-adds the kernel performs relative to dense. */
  computedFraction: number;
}

/** Tuning knobs per family; absent ones take the family's defaults. */
export interface GemmTuning {
  /** 'wmma' (any SM ≥ 7.0: gemm-block, gemm-tile) or 'wgmma' (sm_90a: gemm-gather); default 'wmma'. */
  engine?: GemmEngine;
  block?: Partial<BlockKernelOptions>;
  tile?: Partial<TileKernelOptions>;
  gather?: Partial<GatherKernelOptions>;
  /** nm:2:4 (cuSPARSELt): activation layout, default 'token-major'. */
  nmLayout?: NmLayout;
}

export type GemmEngine = 'wmma' | 'wgmma';

/** The engine for a GPU's SM: warpgroup MMA on Hopper (SM 9.0), wmma elsewhere. */
export function engineForSm(sm: string): GemmEngine {
  return sm === '90' ? 'wgmma' : 'wmma';
}

/** gemm-gather for this plan, or null where its constraints (M a multiple of 8, …) rule it out. */
function lowerGather(shape: GemmShape, plan: () => GatherPlan, o: GatherKernelOptions): LoweredGemm | null {
  try {
    const p = plan();
    return { kernel: 'gemm-gather', code: lowerGemmGather(shape, p, o), needsCusparseLt: false, computedFraction: gatherComputedFraction(p, shape, o) };
  } catch (e) {
    if (e instanceof TesaError && e.code === 'UNSUPPORTED') return null;
    throw e;
  }
}

export function lowerGemm(shape: GemmShape, pattern: string, mask: Uint8Array | null, tuning: GemmTuning = {}): LoweredGemm {
  const p = parsePattern(pattern);
  if (p.kind === 'dense' || mask === null) return { kernel: 'cublas-dense', code: null, needsCusparseLt: false, computedFraction: 1 };
  const { N, K } = shape;
  const wgmma = tuning.engine === 'wgmma' || tuning.gather !== undefined;
  switch (p.kind) {
    case 'block': {
      const s = blockStructure(mask, N, K, p.rows, p.cols);
      const o = { ...DEFAULT_GATHER_BLOCK_OPTIONS, ...tuning.gather };
      const g = wgmma && o.wr % p.rows === 0 ? lowerGather(shape, () => gatherPlanFromBlocks(s, o.wr), o) : null;
      if (g) return g;
      return { kernel: 'gemm-block', code: lowerGemmBlock(shape, s, { ...DEFAULT_BLOCK_OPTIONS, ...tuning.block }), needsCusparseLt: false, computedFraction: computedFraction(s) };
    }
    case 'tile': {
      if (p.fineDelta > 0) throw new TesaError('UNSUPPORTED', `${pattern}: the CUDA backend has no kernel for a fine residual yet`, 'use tile:G without +fine');
      const s = tileStructure(mask, N, K, p.g);
      const o = { ...DEFAULT_GATHER_OPTIONS, ...tuning.gather };
      const g = wgmma ? lowerGather(shape, () => gatherPlanFromTiles(s, o.wr), o) : null;
      if (g) return g;
      return { kernel: 'gemm-tile', code: lowerGemmTile(shape, s, { ...DEFAULT_TILE_OPTIONS, ...tuning.tile }), needsCusparseLt: false, computedFraction: computedFraction(s) };
    }
    case 'row':
    case 'col':
    case 'channel': {
      // Shrunk dense: whole output features (row) or input features (col) pruned leave a dense
      // GEMM over the kept ones, which is exactly a gather plan whose tiles hold the kept rows
      // and share the kept columns.
      const s = tileStructure(mask, N, K, 128);
      const o = { ...DEFAULT_GATHER_OPTIONS, ...tuning.gather };
      const g = wgmma ? lowerGather(shape, () => gatherPlanFromTiles(s, o.wr), o) : null;
      if (g) return g;
      return { kernel: 'gemm-tile', code: lowerGemmTile(shape, s, { ...DEFAULT_TILE_OPTIONS, ...tuning.tile }), needsCusparseLt: false, computedFraction: computedFraction(s) };
    }
    case 'nm': {
      if (p.n !== 2 || p.m !== 4) throw new TesaError('UNSUPPORTED', `${pattern}: the sparse tensor cores take 2:4 only`, 'use nm:2:4');
      if (!isNm(mask, N, K, 2, 4)) throw new TesaError('BAD_INPUT', 'the mask is not 2:4 along the input features', 'prune with --pattern nm:2:4');
      return { kernel: 'gemm-nm', code: lowerGemmNm(shape, tuning.nmLayout), needsCusparseLt: true, computedFraction: 0.5 };
    }
    default:
      throw new TesaError('UNSUPPORTED', `the CUDA backend has no kernel for pattern '${pattern}'`, 'use dense, block:RxC (R, C multiples of 16), tile:G (G a multiple of 32), row, col or nm:2:4');
  }
}

/** The cache key of a generated kernel: sha256(language, code, fingerprint id). */
export function cudaKernelHash(code: string, fingerprintId: string): string {
  return createHash('sha256').update('cuda').update('\0').update(code).update('\0').update(fingerprintId).digest('hex').slice(0, 32);
}
