/**
 * The contract between pruning/propagation and the backends: for each prunable weight, the
 * pattern it was pruned with, its precision, and the final mask after propagation.
 * A backend that knows nothing about sparsity still runs the model correctly, because the
 * masked weights in the graph are zero; a sparse backend uses the mask and pattern to pick
 * specialised kernels.
 */

/** 'dense' | 'fine' | `block:${R}x${C}` | 'row' | 'col' | 'channel' | `tile:${G}` | `tile:${G}+fine:${d}` | `nm:${N}:${M}` */
export type Pattern = string;

export type Precision = 'fp32' | 'fp16' | 'bf16' | 'int8';

export interface WeightSparsity {
  /** Initializer name of the weight. */
  weight: string;
  pattern: Pattern;
  precision: Precision;
  /** Shape of the weight as stored in the graph. */
  shape: number[];
  /** One byte per element, 1 = kept, 0 = pruned; row-major over `shape`. */
  mask: Uint8Array;
  /** precision 'int8' only: fraction of kept elements (largest |w|) left in fp32 as outliers — the mixed decomposition (paper Figure 7). */
  outliers?: number;
}

/** Weight name → its sparsity. Weights not listed are dense fp32. */
export type ModelSparsity = Map<string, WeightSparsity>;

export function maskedFraction(mask: Uint8Array): number {
  let pruned = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) pruned++;
  return mask.length === 0 ? 0 : pruned / mask.length;
}
