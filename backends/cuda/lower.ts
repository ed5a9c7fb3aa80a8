/**
 * Picks the CUDA kernel for one linear layer's weight (its pattern and mask in the math view
 * N×K) and lowers it to CUDA C++: cuBLAS for dense (no generated source: the runner calls
 * it), gemm-block for block:RxC, gemm-tile for tile:G, gemm-nm (cuSPARSELt) for nm:2:4.
 * Pure: the same mask gives the same source and the same hash.
 */
import { createHash } from 'node:crypto';
import { TesaError } from '../../src/errors.js';
import { parsePattern } from '../../src/prune/pattern.js';
import { DEFAULT_BLOCK_OPTIONS, lowerGemmBlock, type BlockKernelOptions } from './kernels/gemm-block.js';
import { lowerGemmNm } from './kernels/gemm-nm.js';
import { DEFAULT_TILE_OPTIONS, lowerGemmTile, type TileKernelOptions } from './kernels/gemm-tile.js';
import type { GemmShape } from './kernels/cuda-prelude.js';
import { blockStructure, computedFraction, isNm, tileStructure } from './kernels/structure.js';

export interface LoweredGemm {
  /** 'cublas-dense' | 'gemm-block' | 'gemm-tile' | 'gemm-nm'. */
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
  block?: Partial<BlockKernelOptions>;
  tile?: Partial<TileKernelOptions>;
}

export function lowerGemm(shape: GemmShape, pattern: string, mask: Uint8Array | null, tuning: GemmTuning = {}): LoweredGemm {
  const p = parsePattern(pattern);
  if (p.kind === 'dense' || mask === null) return { kernel: 'cublas-dense', code: null, needsCusparseLt: false, computedFraction: 1 };
  const { N, K } = shape;
  switch (p.kind) {
    case 'block': {
      const s = blockStructure(mask, N, K, p.rows, p.cols);
      return { kernel: 'gemm-block', code: lowerGemmBlock(shape, s, { ...DEFAULT_BLOCK_OPTIONS, ...tuning.block }), needsCusparseLt: false, computedFraction: computedFraction(s) };
    }
    case 'tile': {
      if (p.fineDelta > 0) throw new TesaError('UNSUPPORTED', `${pattern}: the CUDA backend has no kernel for a fine residual yet`, 'use tile:G without +fine');
      const s = tileStructure(mask, N, K, p.g);
      return { kernel: 'gemm-tile', code: lowerGemmTile(shape, s, { ...DEFAULT_TILE_OPTIONS, ...tuning.tile }), needsCusparseLt: false, computedFraction: computedFraction(s) };
    }
    case 'nm': {
      if (p.n !== 2 || p.m !== 4) throw new TesaError('UNSUPPORTED', `${pattern}: the sparse tensor cores take 2:4 only`, 'use nm:2:4');
      if (!isNm(mask, N, K, 2, 4)) throw new TesaError('BAD_INPUT', 'the mask is not 2:4 along the input features', 'prune with --pattern nm:2:4');
      return { kernel: 'gemm-nm', code: lowerGemmNm(shape), needsCusparseLt: true, computedFraction: 0.5 };
    }
    default:
      throw new TesaError('UNSUPPORTED', `the CUDA backend has no kernel for pattern '${pattern}'`, 'use dense, block:RxC (R, C multiples of 16), tile:G (G a multiple of 32) or nm:2:4');
  }
}

/** The cache key of a generated kernel: sha256(language, code, fingerprint id). */
export function cudaKernelHash(code: string, fingerprintId: string): string {
  return createHash('sha256').update('cuda').update('\0').update(code).update('\0').update(fingerprintId).digest('hex').slice(0, 32);
}
